"""Demo CRM data, generated deterministically on first start from the shared demo customers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from meshline.tools.crm.models import TICKET_STATES, Contact, Note, Ticket
from meshline.tools.kit.database import Database
from meshline.tools.kit.demo_people import demo_people

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
SUBJECTS = ("Where is my parcel?", "Refund not received", "Wrong item delivered", "Cannot log in",
            "Change my delivery address", "Invoice needed for my company", "Product stopped working")  # fmt: skip


def generate(seed: int, customers: int) -> list[object]:
    rng = random.Random(seed + 1)  # its own stream, so CRM data does not shift commerce's
    rows: list[object] = []
    tickets: list[object] = []
    notes: list[object] = []
    number = 0
    for person in demo_people(seed, customers):
        since = EPOCH + timedelta(days=rng.randint(0, 500))
        tier = rng.choice(("standard", "standard", "silver", "gold"))
        newsletter = rng.random() < 0.4
        rows.append(
            Contact(id=person.id, name=person.name, email=person.email, phone=person.phone, tier=tier,
                    newsletter=newsletter, since=since)
        )  # fmt: skip
        for _ in range(1 if person.id == "dev" else rng.randint(0, 3)):
            number += 1
            at = since + timedelta(days=rng.randint(1, 200))
            tid = f"tkt-{number:05d}"
            tickets.append(
                Ticket(id=tid, customer_id=person.id, subject=rng.choice(SUBJECTS), status=rng.choice(TICKET_STATES),
                       created_at=at)
            )  # fmt: skip
            notes.append(Note(ticket_id=tid, author="customer", body="Opened by the customer.", created_at=at))
    return rows + tickets + notes


async def seed_if_empty(database: Database, seed: int, customers: int) -> bool:
    async with database.session() as session:
        if (await session.scalar(select(func.count()).select_from(Contact))) or 0:
            return False
        rows = generate(seed, customers)
        for kind in (Contact, Ticket, Note):  # parents first (foreign keys)
            session.add_all([r for r in rows if type(r) is kind])
            await session.flush()
        await session.commit()
    return True
