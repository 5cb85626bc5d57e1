"""Who a turn runs as: the key decides, a request field never widens it, and store keys never collide."""

from __future__ import annotations

import pytest

from meshline.errors import Forbidden
from meshline.orchestrator.auth import Principal
from meshline.orchestrator.identity import Actor, acting_user
from meshline.scoped_keys import join_key


def key(user: str | None = None, *scopes: str, tenant: str = "acme", key_id: str = "k1") -> Principal:
    return Principal(tenant, user, frozenset({"chat", *scopes}), key_id)


def test_a_bound_key_acts_as_its_user_only() -> None:
    assert acting_user(key("alice"), None) == Actor("acme", "alice")
    assert acting_user(key("alice"), "alice") == Actor("acme", "alice")
    with pytest.raises(Forbidden) as caught:
        acting_user(key("alice", "act_as_user"), "bob")  # not even with act_as_user
    assert caught.value.code == "user_mismatch"


def test_a_user_less_key_runs_as_itself() -> None:
    assert acting_user(key(None, key_id="k1"), None) == Actor("acme", "key:k1")
    assert acting_user(key(None, key_id="k2"), None) != acting_user(key(None, key_id="k1"), None)


def test_acting_for_an_end_user_needs_the_scope_and_stays_in_the_tenant() -> None:
    with pytest.raises(Forbidden) as caught:
        acting_user(key(None), "alice")
    assert caught.value.code == "missing_scope"
    assert acting_user(key(None, "act_as_user", tenant="globex"), "alice") == Actor("globex", "alice")
    with pytest.raises(Forbidden):  # a key's own identity cannot be borrowed by another key
        acting_user(key(None, "act_as_user"), "key:k9")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("acme", "alice", "x:t"), ("acme", "alice:x", "t")),
        (("acme:alice", "x", "t"), ("acme", "alice:x", "t")),
        (("a%3Ab", "c", "t"), ("a:b", "c", "t")),  # an encoded-looking part is encoded again
        (("acme", "", "t"), ("acme", "t", "")),
    ],
)
def test_distinct_identity_triples_never_share_a_key(first: tuple[str, str, str], second: tuple[str, str, str]) -> None:
    assert join_key(*first) != join_key(*second)
    assert Actor(first[0], first[1]).thread_key(first[2]) != Actor(second[0], second[1]).thread_key(second[2])
