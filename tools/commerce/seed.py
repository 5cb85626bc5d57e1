"""The demo store, generated deterministically on first start (a seeded ``random.Random``)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

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
)
from meshline.tools.kit.database import Database
from meshline.tools.kit.demo_people import demo_people

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


def _products(rng: random.Random) -> list[Product]:
    products: list[Product] = []
    for category, names in CATALOG.items():
        for name in names:
            for variant in VARIANTS:
                pid = f"prod-{len(products) + 1:04d}"
                price = rng.randint(5, 400) * 100 + rng.choice((0, 49, 99))
                products.append(
                    Product(
                        id=pid, name=f"{name} {variant}", category=category, price_cents=price,
                        stock=rng.randint(0, 80), description=f"{variant} edition of our {name.lower()} ({category}).",
                    )
                )  # fmt: skip
    return products


def _shipment(rng: random.Random, order: Order, status: str) -> Shipment:
    shipped = order.placed_at + timedelta(days=1)
    events = [{"at": shipped.isoformat(), "status": "shipped", "where": "warehouse"}]
    if status == "delivered":
        events.append({"at": (shipped + timedelta(days=3)).isoformat(), "status": "delivered", "where": "doorstep"})
    else:
        events.append({"at": (shipped + timedelta(days=1)).isoformat(), "status": "in_transit", "where": "hub"})
    return Shipment(
        id=f"shp-{order.id[4:]}", order_id=order.id, carrier=rng.choice(CARRIERS),
        tracking_number=f"TRK{rng.randint(10**9, 10**10 - 1)}", status=events[-1]["status"], events=events,
    )  # fmt: skip


def generate(seed: int, customers: int) -> list[object]:
    """Every row of the demo store, in insertion order."""
    rng = random.Random(seed)
    people = demo_people(seed, customers)
    products = _products(rng)
    rows: list[object] = [Customer(id=p.id, name=p.name, email=p.email, address=p.address) for p in people]
    rows.extend(products)
    number = 0
    for person in people:
        # dev gets one order in every state, so each tool has something to act on locally.
        states = list(ORDER_STATES) if person.id == "dev" else rng.choices(ORDER_STATES, k=rng.randint(0, 5))
        for status in states:
            number += 1
            placed = EPOCH + timedelta(days=rng.randint(0, 300), minutes=rng.randint(0, 1439))
            chosen = rng.sample(products, k=rng.randint(1, 3))
            items = [
                OrderItem(
                    product_id=p.id, product_name=p.name, quantity=rng.randint(1, 3), unit_price_cents=p.price_cents
                )
                for p in chosen
            ]
            total = sum(i.quantity * i.unit_price_cents for i in items)
            order = Order(
                id=f"ord-{number:05d}", customer_id=person.id, status=status, placed_at=placed,
                shipping_address=person.address, total_cents=total, items=items,
            )  # fmt: skip
            rows.append(order)
            if status != "cancelled":
                rows.append(Invoice(id=f"inv-{number:05d}", order_id=order.id, issued_at=placed, amount_cents=total))
            if status in ("shipped", "delivered", "returned"):
                rows.append(_shipment(rng, order, "delivered" if status != "shipped" else "in_transit"))
            if status == "returned":
                reason = rng.choice(RETURN_REASONS)
                at = placed + timedelta(days=8)
                rows.append(
                    Return(id=f"ret-{number:05d}", order_id=order.id, reason=reason, status="received", created_at=at)
                )
                rows.append(
                    Refund(id=f"ref-{number:05d}", order_id=order.id, amount_cents=total, reason=reason, created_at=at)
                )
    return rows


async def seed_if_empty(database: Database, seed: int, customers: int) -> bool:
    """Fill an empty database with the demo store; True when it did."""
    async with database.session() as session:
        if (await session.scalar(select(func.count()).select_from(Customer))) or 0:
            return False
        rows = generate(seed, customers)
        # Parents first: without relationships the unit of work does not order inserts by foreign key.
        for kind in (Customer, Product, Order, Invoice, Shipment, Return, Refund):
            session.add_all([r for r in rows if type(r) is kind])
            await session.flush()
        await session.commit()
    return True
