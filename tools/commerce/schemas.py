"""Arguments and results of the commerce tools (their JSON Schemas are the manifest)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from meshline.tools.commerce.models import TrackingEvent

OrderId = Field(min_length=1, max_length=32, description="Order id, e.g. ord-00042.")
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]  # blank is none


class SearchProducts(BaseModel):
    query: str = Field(default="", max_length=200, description="Words to look for in product names.")
    category: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=10, ge=1, le=50)


class ProductOut(BaseModel):
    id: str
    name: str
    category: str
    description: str
    price_cents: int
    in_stock: bool


class ProductList(BaseModel):
    products: list[ProductOut]


class ProductRef(BaseModel):
    product_id: str = Field(min_length=1, max_length=32)


class ListOrders(BaseModel):
    status: str | None = Field(default=None, description="pending, shipped, delivered, cancelled or returned.")
    limit: int = Field(default=10, ge=1, le=50)


class OrderRef(BaseModel):
    order_id: str = OrderId


class ItemOut(BaseModel):
    product_id: str
    product_name: str
    quantity: int
    unit_price_cents: int


class OrderOut(BaseModel):
    id: str
    status: str
    placed_at: datetime
    shipping_address: str
    total_cents: int
    refunded_cents: int = 0
    items: list[ItemOut] = Field(default_factory=list)


class OrderList(BaseModel):
    orders: list[OrderOut]


class ShipmentOut(BaseModel):
    order_id: str
    carrier: str
    tracking_number: str
    status: str
    events: list[TrackingEvent]


class ChangeAddress(BaseModel):
    order_id: str = OrderId
    address: str = Field(min_length=5, max_length=500)


class StartReturn(BaseModel):
    order_id: str = OrderId
    reason: str = Field(min_length=2, max_length=500)


class ReturnOut(BaseModel):
    id: str
    order_id: str
    reason: str
    status: str


class IssueRefund(BaseModel):
    order_id: str = OrderId
    amount_cents: int = Field(gt=0, description="Amount to refund, in cents; at most what is not refunded yet.")
    reason: Reason = Field(description="Why the customer is refunded, in their words (required).")


class RefundOut(BaseModel):
    id: str
    order_id: str
    amount_cents: int
    refunded_total_cents: int
    reason: str


class InvoiceOut(BaseModel):
    id: str
    order_id: str
    issued_at: datetime
    amount_cents: int
    refunded_cents: int
