"""Demo CRM data, generated deterministically per tenant from the shared demo customers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from meshline.tools.crm.models import TICKET_STATES, Contact, Note, Ticket
from meshline.tools.kit import demo_id_code, demo_people, tenant_seed

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
SUBJECTS = ("Where is my parcel?", "Refund not received", "Wrong item delivered", "Cannot log in",
            "Change my delivery address", "Invoice needed for my company", "Product stopped working")  # fmt: skip
KINDS = (Contact, Ticket, Note)  # insertion order: parents first (foreign keys)


def generate(seed: int, customers: int, tenant: str) -> list[object]:
    """Every CRM row of ``tenant``'s demo data, tenant and customer set on each."""
    rng = random.Random(tenant_seed(seed, tenant) + 1)  # its own stream, so CRM data does not shift commerce's
    code = demo_id_code(tenant)
    rows: list[object] = []
    tickets: list[object] = []
    notes: list[object] = []
    number = 0
    for person in demo_people(seed, customers, tenant):
        since = EPOCH + timedelta(days=rng.randint(0, 500))
        tier = rng.choice(("standard", "standard", "silver", "gold"))
        newsletter = rng.random() < 0.4
        owner = {"tenant": tenant, "customer_id": person.id}
        rows.append(
            Contact(**owner, name=person.name, email=person.email, phone=person.phone, tier=tier,
                    newsletter=newsletter, since=since)
        )  # fmt: skip
        for _ in range(1 if person.id == "dev" else rng.randint(0, 3)):
            number += 1
            at = since + timedelta(days=rng.randint(1, 200))
            tid = f"tkt-{code}{number:05d}"
            tickets.append(
                Ticket(**owner, id=tid, subject=rng.choice(SUBJECTS), status=rng.choice(TICKET_STATES), created_at=at)
            )
            notes.append(Note(**owner, ticket_id=tid, author="customer", body="Opened by the customer.", created_at=at))
    return rows + tickets + notes
