"""The CRM database: customers' contact details, newsletter consent, tickets and their notes.

Every table is customer-owned (tenant, customer): the kit's sessions filter and stamp both.
Ids are unique per tenant (primary keys start with the tenant).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKeyConstraint, Integer, MetaData, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from meshline.tools.kit import CustomerOwned

TICKET_STATES = ("open", "pending", "solved")


class CRMBase(DeclarativeBase):
    metadata = MetaData()


class Contact(CustomerOwned, CRMBase):
    """One customer of one tenant; ``customer_id`` is the orchestrator's user id."""

    __tablename__ = "customers"
    __table_args__ = (PrimaryKeyConstraint("tenant", "customer_id"),)

    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(16))
    newsletter: Mapped[bool] = mapped_column(Boolean)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Ticket(CustomerOwned, CRMBase):
    __tablename__ = "tickets"
    __table_args__ = (
        PrimaryKeyConstraint("tenant", "id"),
        ForeignKeyConstraint(["tenant", "customer_id"], ["customers.tenant", "customers.customer_id"]),
    )

    id: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Note(CustomerOwned, CRMBase):
    __tablename__ = "notes"
    __table_args__ = (ForeignKeyConstraint(["tenant", "ticket_id"], ["tickets.tenant", "tickets.id"]),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(String(32), index=True)
    author: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
