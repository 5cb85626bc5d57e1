"""Arguments and results of the CRM tools."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class NoArguments(BaseModel):
    pass


class ProfileOut(BaseModel):
    id: str
    name: str
    email: str
    phone: str
    tier: str
    newsletter: bool
    customer_since: datetime


class ContactUpdate(BaseModel):
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, min_length=5, max_length=32, pattern=r"^[+0-9 ()-]+$")


class Newsletter(BaseModel):
    subscribed: bool = Field(description="true to subscribe, false to unsubscribe.")


class TicketList(BaseModel):
    tickets: list[TicketOut]


class NoteOut(BaseModel):
    author: str
    body: str
    created_at: datetime


class TicketOut(BaseModel):
    id: str
    subject: str
    status: str
    created_at: datetime
    notes: list[NoteOut] = Field(default_factory=list)


class OpenTicket(BaseModel):
    subject: str = Field(min_length=3, max_length=200)
    description: str = Field(min_length=3, max_length=4000)


class AddNote(BaseModel):
    ticket_id: str = Field(min_length=1, max_length=32)
    body: str = Field(min_length=1, max_length=4000)


TicketList.model_rebuild()
