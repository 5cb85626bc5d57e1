"""Tool data partitioned by tenant and customer, enforced by the kit's sessions, not by each tool.

A tool service's tables inherit :class:`TenantOwned` (rows of one tenant: a shop's catalog) or
:class:`CustomerOwned` (rows of one customer of one tenant: orders, tickets, the profile). Every
session the kit hands a tool (``ToolContext.session``) carries the call's :class:`TenantScope`,
taken from the verified service token, and on such a session:

- every ORM SELECT, UPDATE and DELETE gets ``tenant == scope.tenant`` on each TenantOwned entity
  it touches, and also ``customer_id == scope.customer`` on each CustomerOwned one (SQLAlchemy's
  documented multi-tenancy recipe: ``do_orm_execute`` adding ``with_loader_criteria``), which
  also covers joins, ``session.get`` and relationship loads;
- a flush stamps the scope onto new rows and refuses to write a row of another tenant or
  customer (:class:`ForeignRowWrite`, a 403: a tool bug, never the caller's data).

So a tool written without any tenant or customer filter still sees and changes only its caller's
rows: another tenant's id is simply not found. What this does not cover: raw SQL (``text()``) and
Core statements on ``Table`` objects are not rewritten, so a tool that writes them must filter by
``ctx.tenant`` and ``ctx.customer`` itself.

Ids a customer can type (orders, tickets) should be unique per tenant only: give such a table the
primary key ``(tenant, id)``, so two tenants can both have ``ord-00001`` and neither can name the
other's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, event
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column, with_loader_criteria

from meshline.errors import Forbidden

log = logging.getLogger(__name__)
SCOPE_KEY = "meshline.tenant_scope"  # where a session keeps its scope (Session.info)


@dataclass(frozen=True)
class TenantScope:
    """The tenant and customer a session acts for, from the verified service token only."""

    tenant: str
    customer: str


class TenantOwned:
    """Mixin for a table whose every row belongs to one tenant (the ``tenant`` column)."""

    tenant: Mapped[str] = mapped_column(String(128), sort_order=-10)


class CustomerOwned(TenantOwned):
    """Mixin for a table whose every row belongs to one customer of one tenant (``customer_id``)."""

    customer_id: Mapped[str] = mapped_column(String(64), index=True, sort_order=-9)


class ForeignRowWrite(Forbidden):
    """A tool tried to write a row of another tenant or customer than the call's."""

    code = "foreign_row_write"


class ScopedSession(Session):
    """The kit's session class: its events apply the scope in ``info`` (none: unscoped, startup only)."""


def scope_of(session: Session) -> TenantScope | None:
    scope = session.info.get(SCOPE_KEY)
    return scope if isinstance(scope, TenantScope) else None


@event.listens_for(ScopedSession, "do_orm_execute")
def _filter_by_scope(state: ORMExecuteState) -> None:
    scope = scope_of(state.session)
    if scope is None or state.is_column_load or not (state.is_select or state.is_update or state.is_delete):
        return
    tenant, customer = scope.tenant, scope.customer  # plain locals: the lambdas' bound parameters
    state.statement = state.statement.options(
        with_loader_criteria(TenantOwned, lambda cls: cls.tenant == tenant, include_aliases=True),
        with_loader_criteria(CustomerOwned, lambda cls: cls.customer_id == customer, include_aliases=True),
    )


def _claim(row: Any, scope: TenantScope, *, stamp: bool) -> None:
    """Stamp (new rows) or check (changed and deleted rows) the scope's tenant and customer."""
    owners = [("tenant", scope.tenant)] if isinstance(row, TenantOwned) else []
    if isinstance(row, CustomerOwned):
        owners.append(("customer_id", scope.customer))
    for column, value in owners:
        current = getattr(row, column)
        if current is None and stamp:
            setattr(row, column, value)
        elif current != value:
            log.warning("refused to write a %s row of another %s", type(row).__name__, column)
            raise ForeignRowWrite(f"a tool may only write rows of the caller's own {column.removesuffix('_id')}")


@event.listens_for(ScopedSession, "before_flush")
def _stamp_and_check(session: Session, _context: Any, _instances: Any) -> None:
    scope = scope_of(session)
    if scope is None:
        return
    for row in session.new:
        _claim(row, scope, stamp=True)
    for row in (*session.dirty, *session.deleted):
        _claim(row, scope, stamp=False)
