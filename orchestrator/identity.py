"""Who a turn runs as: the (tenant, end user) pair, taken from the API key and nothing else.

- A key bound to a user acts as that user only; a request naming anyone else is refused.
- A tenant's backend key (no bound user) may act for its own end users through the request's
  ``user`` field, but only with the ``act_as_user`` scope; the tenant stays the key's.
- A key without a bound user that names no ``user`` runs as the key itself (``key:<id>``), so two
  unrelated keys of one tenant never share threads, memories or confirmations.

Every store key built from the pair goes through :func:`meshline.scoped_keys.join_key`, so no two
distinct (tenant, user, thread) triples can collide.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshline.contracts import ACT_AS_USER
from meshline.errors import Forbidden
from meshline.orchestrator.auth import Principal
from meshline.scoped_keys import join_key

KEY_USER_PREFIX = "key:"


@dataclass(frozen=True)
class Actor:
    """The identity a turn (and every store access it makes) runs under."""

    tenant: str
    user: str

    def thread_key(self, thread_id: str) -> str:
        """The checkpoint key of one of this actor's threads."""
        return join_key(self.tenant, self.user, thread_id)


def acting_user(principal: Principal, requested: str | None) -> Actor:
    """The end user ``principal`` acts as when a request names ``requested`` (or nobody)."""
    if principal.user is not None:
        if requested is not None and requested != principal.user:
            raise Forbidden("this key is bound to one user and cannot act as another", code="user_mismatch")
        return Actor(principal.tenant, principal.user)
    if requested is None:
        return Actor(principal.tenant, KEY_USER_PREFIX + principal.key_id)
    if ACT_AS_USER not in principal.scopes:
        raise Forbidden(
            f"acting for an end user (the 'user' field) needs the {ACT_AS_USER!r} scope", code="missing_scope"
        )
    if requested.startswith(KEY_USER_PREFIX):
        # A key's own identity is not an end user another key may borrow.
        raise Forbidden("'key:' users are API keys' own identities", code="user_not_allowed")
    return Actor(principal.tenant, requested)
