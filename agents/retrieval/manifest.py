"""What the knowledge agent tells the registry and the router about itself."""

from __future__ import annotations

from meshline.contracts import Manifest

DESCRIPTION = (
    "Answers questions about the store's policies and how things work — shipping, returns and refunds, "
    "payments, cancellation fees, accounts and privacy — from the store's knowledge base, citing the "
    "documents it used. It does not look up or change a customer's own orders."
)

EXAMPLES = [
    "What is your refund policy?",
    "When am I entitled to a refund?",
    "Am I eligible for a refund if I change my mind?",
    "How long do refunds usually take to be processed?",
    "Do you offer a money-back guarantee?",
    "How many days do I have to return something?",
    "Is there a fee for cancelling an order?",
    "What are the early termination charges?",
    "Are there any charges for cancelling or withdrawing early?",
    "Which payment methods do you accept?",
    "What payment options do you have? Can I use PayPal?",
    "Can I pay in installments?",
    "What shipping methods are available?",
    "Do you ship to other countries?",
    "Can I order from abroad?",
    "Is there a same-day or next-day delivery option?",
    "How much does express delivery cost?",
    "How long does standard shipping take?",
    "How soon will a purchase usually arrive after I order it?",
    "What are the delivery times to my country?",
    "How is free shipping calculated?",
    "Are return shipping costs covered?",
    "What personal data do you keep about me?",
    "Do you sell my data to third parties?",
    "What is your privacy policy on cookies?",
]


def manifest(version: str, name: str) -> Manifest:
    return Manifest(name=name, kind="agent", version=version, description=DESCRIPTION, examples=EXAMPLES)
