"""The commerce database: customers, products, orders and what happens to them after purchase.

Every table belongs to a tenant (its shop): the catalog is tenant-owned (each shop sells its own
products, at its own prices), everything else customer-owned; the kit's sessions filter and stamp
both. Ids are unique per tenant (primary keys start with the tenant).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from typing_extensions import TypedDict

from meshline.tools.kit import CustomerOwned, TenantOwned

ORDER_STATES = ("pending", "shipped", "delivered", "cancelled", "returned")


class CommerceBase(DeclarativeBase):
    metadata = MetaData()


def _of_order() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["tenant", "order_id"], ["orders.tenant", "orders.id"])


class Customer(CustomerOwned, CommerceBase):
    """One customer of one shop; ``customer_id`` is the orchestrator's user id."""

    __tablename__ = "customers"
    __table_args__ = (PrimaryKeyConstraint("tenant", "customer_id"),)

    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(500))


class Product(TenantOwned, CommerceBase):
    __tablename__ = "products"
    __table_args__ = (PrimaryKeyConstraint("tenant", "id"),)

    id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), index=True)
    category: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(Text)
    price_cents: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer)


class Order(CustomerOwned, CommerceBase):
    __tablename__ = "orders"
    __table_args__ = (
        PrimaryKeyConstraint("tenant", "id"),
        ForeignKeyConstraint(["tenant", "customer_id"], ["customers.tenant", "customers.customer_id"]),
    )

    id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    shipping_address: Mapped[str] = mapped_column(String(500))
    total_cents: Mapped[int] = mapped_column(Integer)
    items: Mapped[list[OrderItem]] = relationship(lazy="selectin", cascade="all, delete-orphan")


class OrderItem(CustomerOwned, CommerceBase):
    __tablename__ = "order_items"
    __table_args__ = (
        _of_order(),
        ForeignKeyConstraint(["tenant", "product_id"], ["products.tenant", "products.id"]),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(32), index=True)
    product_id: Mapped[str] = mapped_column(String(32))
    product_name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)


class TrackingEvent(TypedDict):
    """One step of a shipment's journey, as the carrier reports it (a JSON column)."""

    at: str  # ISO 8601
    status: str
    where: str


class Shipment(CustomerOwned, CommerceBase):
    __tablename__ = "shipments"
    __table_args__ = (PrimaryKeyConstraint("tenant", "id"), _of_order(), UniqueConstraint("tenant", "order_id"))

    id: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[str] = mapped_column(String(32))
    carrier: Mapped[str] = mapped_column(String(64))
    tracking_number: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    events: Mapped[list[TrackingEvent]] = mapped_column(JSON)


class Invoice(CustomerOwned, CommerceBase):
    __tablename__ = "invoices"
    __table_args__ = (PrimaryKeyConstraint("tenant", "id"), _of_order(), UniqueConstraint("tenant", "order_id"))

    id: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    amount_cents: Mapped[int] = mapped_column(Integer)


class Return(CustomerOwned, CommerceBase):
    __tablename__ = "returns"
    __table_args__ = (PrimaryKeyConstraint("tenant", "id"), _of_order())

    id: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Refund(CustomerOwned, CommerceBase):
    __tablename__ = "refunds"
    __table_args__ = (PrimaryKeyConstraint("tenant", "id"), _of_order())

    id: Mapped[str] = mapped_column(String(40))
    order_id: Mapped[str] = mapped_column(String(32), index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
