"""Deterministic demo customers shared by the bundled tool services, so ids and names agree.

Customer ids are the orchestrator's user ids: ``dev`` (the user of the key ``meshline up``
mints) and ``cust-0001`` ... ``cust-NNNN``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

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


def demo_people(seed: int, count: int) -> list[DemoPerson]:
    """``dev`` first, then ``count`` generated customers; the same seed gives the same people."""
    rng = random.Random(seed)
    people = [DemoPerson("dev", "Dev Tester", "dev@example.com", "+1 555 0100", "1 Main St, Springfield")]
    for i in range(1, count + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        address = f"{rng.randint(1, 250)} {rng.choice(STREETS)}, {rng.choice(CITIES)}"
        phone = f"+1 555 {rng.randint(1000, 9999)}"
        email = f"{first}.{last}{i}@example.com".lower()
        people.append(DemoPerson(f"cust-{i:04d}", f"{first} {last}", email, phone, address))
    return people
