"""What the knowledge agent tells the registry and the router about itself."""

from __future__ import annotations

from meshline.contracts import Manifest

DESCRIPTION = (
    "Answers questions about the store's policies and how things work — shipping, returns and refunds, "
    "payments, cancellation fees, accounts and privacy — from the store's knowledge base, citing the "
    "documents it used. It does not look up or change a customer's own orders."
)

EXAMPLES = [
    "What is your return policy?",
    "How many days do I have to return something?",
    "How long does standard shipping take?",
    "Do you ship internationally?",
    "How much does express delivery cost?",
    "When will I get my refund after returning an item?",
    "Can I get a refund to a different card?",
    "Which payment methods do you accept?",
    "Do you charge a fee if I cancel an order?",
    "Is there a cancellation fee once the order has shipped?",
    "Can I pay in installments?",
    "What delivery options do you offer?",
    "How long does delivery usually take to my country?",
    "Is there a same-day or next-day delivery option?",
    "What does your refund policy say about sale items?",
    "How much is the fee for cancelling after the order is placed?",
    "What personal data do you keep about me?",
    "Do you sell my data to third parties?",
    "Are return shipping costs covered?",
    "What happens if my package arrives damaged?",
    "How is free shipping calculated?",
    "What is your privacy policy on cookies?",
]


def manifest(version: str, name: str) -> Manifest:
    return Manifest(name=name, kind="agent", version=version, description=DESCRIPTION, examples=EXAMPLES)
