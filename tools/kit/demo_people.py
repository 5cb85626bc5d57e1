"""Deterministic demo customers shared by the bundled tool services, so ids and names agree.

Customer ids are the orchestrator's user ids: ``dev`` (the user of the key ``meshline up``
mints) and ``cust-0001`` ... ``cust-NNNN``, the same ids in every demo tenant; but each tenant's
people (and everything seeded for them) come from a seed of their own, so ``dev`` of tenant
``acme`` is someone else than ``dev`` of tenant ``dev`` ("Dev Tester", unchanged).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

DEV_TENANT = "dev"  # the tenant of the key ``meshline up`` mints

FIRST = ("Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kira", "Liam",
         "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Uma", "Victor", "Wen", "Yusuf")  # fmt: skip
LAST = ("Adler", "Brooks", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ivanova", "Jensen",
        "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Rossi", "Schmidt", "Tanaka")  # fmt: skip
STREETS = ("Market St", "Oak Ave", "Harbour Rd", "Mill Lane", "Station Sq", "Lindenweg", "Rue Verte", "Elm Court")
CITIES = ("Springfield", "Lyon", "Bristol", "Leipzig", "Porto", "Gdansk", "Utrecht", "Turin")


@dataclass(frozen=True)
class DemoPerson:
    id: str
    name: str
    email: str
    phone: str
    address: str


def tenant_seed(seed: int, tenant: str) -> int:
    """The seed of one tenant's demo data: ``seed`` itself for the dev tenant, a derived one elsewhere."""
    if tenant == DEV_TENANT:
        return seed
    return int.from_bytes(hashlib.sha256(f"{seed}:{tenant}".encode()).digest()[:8], "big")


def demo_id_code(tenant: str) -> str:
    """Inserted into a tenant's demo object ids (``ord-<code>00001``), so that an id copied from one
    tenant's demo store names nothing in another's; empty for the dev tenant (its ids as before)."""
    return "" if tenant == DEV_TENANT else hashlib.sha256(tenant.encode()).hexdigest()[:6] + "-"


def demo_people(seed: int, count: int, tenant: str = DEV_TENANT) -> list[DemoPerson]:
    """``dev`` first, then ``count`` generated customers; the same seed and tenant give the same people."""
    rng = random.Random(tenant_seed(seed, tenant))
    people: list[DemoPerson] = []
    if tenant == DEV_TENANT:
        people.append(DemoPerson("dev", "Dev Tester", "dev@example.com", "+1 555 0100", "1 Main St, Springfield"))
    for i in range(0 if tenant != DEV_TENANT else 1, count + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        address = f"{rng.randint(1, 250)} {rng.choice(STREETS)}, {rng.choice(CITIES)}"
        phone = f"+1 555 {rng.randint(1000, 9999)}"
        customer = f"cust-{i:04d}" if i else "dev"
        email = f"{first}.{last}{i}@example.com".lower()
        people.append(DemoPerson(customer, f"{first} {last}", email, phone, address))
    return people
