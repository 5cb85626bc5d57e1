"""The demo store of one tenant, generated deterministically (a seeded ``random.Random`` per tenant)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from meshline.tools.commerce.models import (
    ORDER_STATES,
    Customer,
    Invoice,
    Order,
    OrderItem,
    Product,
    Refund,
    Return,
    Shipment,
    TrackingEvent,
)
from meshline.tools.kit import demo_id_code, demo_people, tenant_seed

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)  # fixed, so the same seed gives the same store on any day
CATALOG = {
    "audio": ("Wireless Earbuds", "Studio Headphones", "Bluetooth Speaker", "Soundbar", "USB Microphone"),
    "home": ("Espresso Machine", "Ceramic Mug Set", "Desk Lamp", "Air Purifier", "Throw Blanket"),
    "outdoor": ("Trail Backpack", "Camping Stove", "Water Bottle", "Rain Jacket", "Hiking Poles"),
    "office": ("Mechanical Keyboard", "Ergonomic Mouse", "Monitor Stand", "Notebook Pack", "Webcam"),
    "fitness": ("Yoga Mat", "Adjustable Dumbbells", "Running Shoes", "Jump Rope", "Foam Roller"),
}
VARIANTS = ("Basic", "Plus", "Pro", "Mini", "Max")
CARRIERS = ("UPS", "DHL", "FedEx", "PostNL")
RETURN_REASONS = ("arrived damaged", "wrong size", "changed my mind", "not as described")
# Insertion order, parents first (no relationships order inserts by foreign key); items go with their order.
KINDS = (Customer, Product, Order, Invoice, Shipment, Return, Refund)


def _products(rng: random.Random, tenant: str, code: str) -> list[Product]:
    products: list[Product] = []
    for category, names in CATALOG.items():
        for name in names:
            for variant in VARIANTS:
                pid = f"prod-{code}{len(products) + 1:04d}"
                price = rng.randint(5, 400) * 100 + rng.choice((0, 49, 99))
                products.append(
                    Product(
                        tenant=tenant, id=pid, name=f"{name} {variant}", category=category, price_cents=price,
                        stock=rng.randint(0, 80), description=f"{variant} edition of our {name.lower()} ({category}).",
                    )
                )  # fmt: skip
    return products


def _shipment(rng: random.Random, order: Order, status: str) -> Shipment:
    shipped = order.placed_at + timedelta(days=1)
    events: list[TrackingEvent] = [{"at": shipped.isoformat(), "status": "shipped", "where": "warehouse"}]
    if status == "delivered":
        events.append({"at": (shipped + timedelta(days=3)).isoformat(), "status": "delivered", "where": "doorstep"})
    else:
        events.append({"at": (shipped + timedelta(days=1)).isoformat(), "status": "in_transit", "where": "hub"})
    return Shipment(
        tenant=order.tenant, customer_id=order.customer_id, id=f"shp-{order.id[4:]}", order_id=order.id,
        carrier=rng.choice(CARRIERS), tracking_number=f"TRK{rng.randint(10**9, 10**10 - 1)}",
        status=events[-1]["status"], events=events,
    )  # fmt: skip


def generate(seed: int, customers: int, tenant: str) -> list[object]:
    """Every row of ``tenant``'s demo store, in insertion order, tenant and customer set on each."""
    rng = random.Random(tenant_seed(seed, tenant))
    code = demo_id_code(tenant)
    people = demo_people(seed, customers, tenant)
    products = _products(rng, tenant, code)
    rows: list[object] = [
        Customer(tenant=tenant, customer_id=p.id, name=p.name, email=p.email, address=p.address) for p in people
    ]
    rows.extend(products)
    number = 0
    for person in people:
        owner = {"tenant": tenant, "customer_id": person.id}
        # dev gets one order in every state, so each tool has something to act on locally.
        states = list(ORDER_STATES) if person.id == "dev" else rng.choices(ORDER_STATES, k=rng.randint(0, 5))
        for status in states:
            number += 1
            placed = EPOCH + timedelta(days=rng.randint(0, 300), minutes=rng.randint(0, 1439))
            chosen = rng.sample(products, k=rng.randint(1, 3))
            items = [
                OrderItem(
                    **owner,
                    product_id=p.id,
                    product_name=p.name,
                    quantity=rng.randint(1, 3),
                    unit_price_cents=p.price_cents,
                )
                for p in chosen
            ]
            total = sum(i.quantity * i.unit_price_cents for i in items)
            order = Order(
                **owner, id=f"ord-{code}{number:05d}", status=status, placed_at=placed,
                shipping_address=person.address, total_cents=total, items=items,
            )  # fmt: skip
            rows.append(order)
            if status != "cancelled":
                rows.append(
                    Invoice(
                        **owner, id=f"inv-{code}{number:05d}", order_id=order.id, issued_at=placed, amount_cents=total
                    )
                )
            if status in ("shipped", "delivered", "returned"):
                rows.append(_shipment(rng, order, "delivered" if status != "shipped" else "in_transit"))
            if status == "returned":
                reason = rng.choice(RETURN_REASONS)
                at = placed + timedelta(days=8)
                rows.append(
                    Return(
                        **owner,
                        id=f"ret-{code}{number:05d}",
                        order_id=order.id,
                        reason=reason,
                        status="received",
                        created_at=at,
                    )
                )
                rows.append(
                    Refund(
                        **owner,
                        id=f"ref-{code}{number:05d}",
                        order_id=order.id,
                        amount_cents=total,
                        reason=reason,
                        created_at=at,
                    )
                )
    return rows
