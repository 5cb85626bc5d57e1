"""The commerce tools. Their queries name no tenant or customer: the kit's session adds the
token's tenant to every query (the catalog is the tenant's shop) and its customer on the
customer-owned tables, so an order id of another customer, of this shop or any other, is simply
not found."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from meshline.errors import Conflict, NotFound
from meshline.tools.commerce.models import ORDER_STATES, Invoice, Order, Product, Refund, Return, Shipment
from meshline.tools.commerce.schemas import (
    ChangeAddress,
    InvoiceOut,
    IssueRefund,
    ItemOut,
    ListOrders,
    OrderList,
    OrderOut,
    OrderRef,
    ProductList,
    ProductOut,
    ProductRef,
    RefundOut,
    ReturnOut,
    SearchProducts,
    ShipmentOut,
    StartReturn,
)
from meshline.tools.kit import ToolContext, ToolDef, tool

# Only goods the customer has (delivered) or has sent back (returned) are refunded; the others say what to do.
REFUNDABLE = ("delivered", "returned")
NOT_REFUNDABLE = {
    "pending": "only delivered or returned orders can be refunded; this one has not shipped, cancel it instead",
    "shipped": "only delivered or returned orders can be refunded; this one can be once it is delivered",
    "cancelled": "only delivered or returned orders can be refunded; a cancelled order has nothing to refund",
}


def _product(p: Product) -> ProductOut:
    return ProductOut(
        id=p.id, name=p.name, category=p.category, description=p.description, price_cents=p.price_cents,
        in_stock=p.stock > 0,
    )  # fmt: skip


async def _refunded(session: AsyncSession, order_id: str) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount_cents), 0)).where(Refund.order_id == order_id)
    )
    return int(total or 0)


async def _order_out(session: AsyncSession, order: Order) -> OrderOut:
    items = [
        ItemOut(
            product_id=i.product_id,
            product_name=i.product_name,
            quantity=i.quantity,
            unit_price_cents=i.unit_price_cents,
        )
        for i in order.items
    ]
    return OrderOut(
        id=order.id, status=order.status, placed_at=order.placed_at, shipping_address=order.shipping_address,
        total_cents=order.total_cents, refunded_cents=await _refunded(session, order.id), items=items,
    )  # fmt: skip


async def my_order(ctx: ToolContext, order_id: str) -> Order:
    """The caller's order, or 404 (the same answer whether it does not exist or is someone else's)."""
    order = await ctx.session.scalar(select(Order).where(Order.id == order_id))
    if order is None:
        raise NotFound(f"you have no order {order_id!r}", code="order_not_found")
    return order


@tool()
async def search_products(args: SearchProducts, ctx: ToolContext) -> ProductList:
    """Search the catalog by words in the product name, optionally within one category."""
    query = select(Product)
    for word in args.query.split()[:8]:
        like = f"%{word}%"
        query = query.where(or_(Product.name.ilike(like), Product.category.ilike(like)))
    if args.category:
        query = query.where(Product.category == args.category)
    rows = (await ctx.session.scalars(query.order_by(Product.id).limit(args.limit))).all()
    return ProductList(products=[_product(p) for p in rows])


@tool()
async def get_product(args: ProductRef, ctx: ToolContext) -> ProductOut:
    """Details, price and availability of one product."""
    product = await ctx.session.scalar(select(Product).where(Product.id == args.product_id))
    if product is None:
        raise NotFound(f"no product {args.product_id!r}", code="product_not_found")
    return _product(product)


@tool()
async def list_my_orders(args: ListOrders, ctx: ToolContext) -> OrderList:
    """The customer's orders, newest first, optionally only those in one status."""
    query = select(Order)
    if args.status:
        if args.status not in ORDER_STATES:
            raise NotFound(f"unknown order status {args.status!r}; one of {', '.join(ORDER_STATES)}", code="bad_status")
        query = query.where(Order.status == args.status)
    rows = (await ctx.session.scalars(query.order_by(Order.placed_at.desc()).limit(args.limit))).all()
    return OrderList(orders=[await _order_out(ctx.session, o) for o in rows])


@tool()
async def get_order(args: OrderRef, ctx: ToolContext) -> OrderOut:
    """One of the customer's orders with its items, status and refunds so far."""
    return await _order_out(ctx.session, await my_order(ctx, args.order_id))


@tool()
async def track_shipment(args: OrderRef, ctx: ToolContext) -> ShipmentOut:
    """Carrier, tracking number and tracking events of an order's shipment."""
    order = await my_order(ctx, args.order_id)
    shipment = await ctx.session.scalar(select(Shipment).where(Shipment.order_id == order.id))
    if shipment is None:
        raise NotFound(f"order {order.id} has not shipped (status: {order.status})", code="not_shipped")
    return ShipmentOut(
        order_id=order.id, carrier=shipment.carrier, tracking_number=shipment.tracking_number,
        status=shipment.status, events=shipment.events,
    )  # fmt: skip


@tool(side_effects=True)
async def cancel_order(args: OrderRef, ctx: ToolContext) -> OrderOut:
    """Cancel an order that has not shipped yet."""
    order = await my_order(ctx, args.order_id)
    if order.status != "pending":
        raise Conflict(
            f"order {order.id} is {order.status}; only pending orders can be cancelled", code="not_cancellable"
        )
    order.status = "cancelled"
    await ctx.session.flush()
    return await _order_out(ctx.session, order)


@tool(side_effects=True)
async def change_shipping_address(args: ChangeAddress, ctx: ToolContext) -> OrderOut:
    """Change where a pending order will be shipped."""
    order = await my_order(ctx, args.order_id)
    if order.status != "pending":
        raise Conflict(f"order {order.id} is {order.status}; only pending orders can be redirected", code="not_pending")
    order.shipping_address = args.address
    await ctx.session.flush()
    return await _order_out(ctx.session, order)


@tool(side_effects=True)
async def start_return(args: StartReturn, ctx: ToolContext) -> ReturnOut:
    """Open a return for a delivered order; the refund follows once the parcel is back."""
    order = await my_order(ctx, args.order_id)
    if order.status != "delivered":
        raise Conflict(
            f"order {order.id} is {order.status}; only delivered orders can be returned", code="not_returnable"
        )
    if await ctx.session.scalar(select(Return).where(Return.order_id == order.id)):
        raise Conflict(f"order {order.id} already has a return", code="return_exists")
    ret = Return(
        id=f"ret-{uuid.uuid4().hex[:12]}", order_id=order.id, reason=args.reason, status="requested",
        created_at=datetime.now(UTC),
    )  # fmt: skip
    ctx.session.add(ret)
    await ctx.session.flush()
    return ReturnOut(id=ret.id, order_id=order.id, reason=ret.reason, status=ret.status)


@tool(side_effects=True)
async def issue_refund(args: IssueRefund, ctx: ToolContext) -> RefundOut:
    """Refund part or all of a delivered or returned order, with the reason; at most what has not
    been refunded yet. A refusal says why (code and detail), so it can be explained."""
    order = await my_order(ctx, args.order_id)
    if order.status not in REFUNDABLE:
        hint = NOT_REFUNDABLE.get(order.status, "only delivered or returned orders can be refunded")
        raise Conflict(f"order {order.id} is {order.status}: {hint}", code="not_refundable")
    already = await _refunded(ctx.session, order.id)
    remaining = order.total_cents - already
    if args.amount_cents > remaining:
        raise Conflict(
            f"at most {remaining} cents of order {order.id} can still be refunded (total {order.total_cents}, "
            f"refunded {already})",
            code="refund_exceeds_total",
        )
    refund = Refund(
        id=f"ref-{uuid.uuid4().hex[:12]}", order_id=order.id, amount_cents=args.amount_cents, reason=args.reason,
        created_at=datetime.now(UTC),
    )  # fmt: skip
    ctx.session.add(refund)
    await ctx.session.flush()
    return RefundOut(
        id=refund.id, order_id=order.id, amount_cents=refund.amount_cents,
        refunded_total_cents=already + refund.amount_cents, reason=refund.reason,
    )  # fmt: skip


@tool()
async def get_invoice(args: OrderRef, ctx: ToolContext) -> InvoiceOut:
    """The invoice of an order, with what has been refunded against it."""
    order = await my_order(ctx, args.order_id)
    invoice = await ctx.session.scalar(select(Invoice).where(Invoice.order_id == order.id))
    if invoice is None:
        raise NotFound(f"order {order.id} has no invoice (status: {order.status})", code="invoice_not_found")
    return InvoiceOut(
        id=invoice.id, order_id=order.id, issued_at=invoice.issued_at, amount_cents=invoice.amount_cents,
        refunded_cents=await _refunded(ctx.session, order.id),
    )  # fmt: skip


TOOLS: list[ToolDef] = [
    search_products, get_product, list_my_orders, get_order, track_shipment,
    cancel_order, change_shipping_address, start_return, issue_refund, get_invoice,
]  # fmt: skip
