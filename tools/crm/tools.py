"""The CRM tools. Their queries name no tenant or customer: the kit's session adds both (from the
service token) to every query on these customer-owned tables and stamps them on new rows, so
another customer's ticket, of this tenant or any other, is simply not found."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from meshline.errors import BadRequest, NotFound
from meshline.tools.crm.models import Contact, Note, Ticket
from meshline.tools.crm.schemas import (
    AddNote,
    ContactUpdate,
    Newsletter,
    NoArguments,
    NoteOut,
    OpenTicket,
    ProfileOut,
    TicketList,
    TicketOut,
)
from meshline.tools.kit import ToolContext, ToolDef, tool


async def _me(ctx: ToolContext) -> Contact:
    # No filter here: the scoped session adds the tenant and customer, so this is the caller's own row.
    contact: Contact | None = await ctx.session.scalar(select(Contact))
    if contact is None:
        raise NotFound("there is no customer profile for this account", code="customer_not_found")
    return contact


def _profile(c: Contact) -> ProfileOut:
    return ProfileOut(
        id=c.customer_id, name=c.name, email=c.email, phone=c.phone, tier=c.tier, newsletter=c.newsletter,
        customer_since=c.since,
    )  # fmt: skip


async def _ticket_out(ctx: ToolContext, ticket: Ticket) -> TicketOut:
    notes = (await ctx.session.scalars(select(Note).where(Note.ticket_id == ticket.id).order_by(Note.id))).all()
    return TicketOut(
        id=ticket.id, subject=ticket.subject, status=ticket.status, created_at=ticket.created_at,
        notes=[NoteOut(author=n.author, body=n.body, created_at=n.created_at) for n in notes],
    )  # fmt: skip


@tool()
async def get_my_profile(args: NoArguments, ctx: ToolContext) -> ProfileOut:
    """The customer's profile: name, email, phone, loyalty tier and newsletter status."""
    return _profile(await _me(ctx))


@tool(side_effects=True)
async def update_contact_details(args: ContactUpdate, ctx: ToolContext) -> ProfileOut:
    """Change the customer's email address and/or phone number."""
    if args.email is None and args.phone is None:
        raise BadRequest("give a new email or phone number", code="nothing_to_update")
    contact = await _me(ctx)
    if args.email is not None:
        contact.email = args.email
    if args.phone is not None:
        contact.phone = args.phone
    await ctx.session.flush()
    return _profile(contact)


@tool(side_effects=True)
async def set_newsletter_subscription(args: Newsletter, ctx: ToolContext) -> ProfileOut:
    """Subscribe the customer to the newsletter, or unsubscribe them."""
    contact = await _me(ctx)
    contact.newsletter = args.subscribed
    await ctx.session.flush()
    return _profile(contact)


@tool()
async def list_my_tickets(args: NoArguments, ctx: ToolContext) -> TicketList:
    """The customer's support tickets, newest first, with their notes."""
    rows = (await ctx.session.scalars(select(Ticket).order_by(Ticket.created_at.desc()).limit(20))).all()
    return TicketList(tickets=[await _ticket_out(ctx, t) for t in rows])


@tool(side_effects=True)
async def open_ticket(args: OpenTicket, ctx: ToolContext) -> TicketOut:
    """Open a support ticket for a human agent to follow up."""
    await _me(ctx)
    now = datetime.now(UTC)
    ticket = Ticket(id=f"tkt-{uuid.uuid4().hex[:10]}", subject=args.subject, status="open", created_at=now)
    ctx.session.add(ticket)
    await ctx.session.flush()
    ctx.session.add(Note(ticket_id=ticket.id, author="customer", body=args.description, created_at=now))
    await ctx.session.flush()
    return await _ticket_out(ctx, ticket)


@tool(side_effects=True)
async def add_ticket_note(args: AddNote, ctx: ToolContext) -> TicketOut:
    """Add a note to one of the customer's tickets (reopens a solved one)."""
    ticket = await ctx.session.scalar(select(Ticket).where(Ticket.id == args.ticket_id))
    if ticket is None:
        raise NotFound(f"you have no ticket {args.ticket_id!r}", code="ticket_not_found")
    ctx.session.add(Note(ticket_id=ticket.id, author="customer", body=args.body, created_at=datetime.now(UTC)))
    if ticket.status == "solved":
        ticket.status = "open"
    await ctx.session.flush()
    return await _ticket_out(ctx, ticket)


TOOLS: list[ToolDef] = [
    get_my_profile, update_contact_details, set_newsletter_subscription, list_my_tickets, open_ticket, add_ticket_note,
]  # fmt: skip
