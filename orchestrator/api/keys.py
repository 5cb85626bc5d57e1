"""``POST /v1/keys`` (admin): mint a tenant API key with scopes; the key is shown once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, field_validator

from meshline.orchestrator.auth import Principal, require_scope
from meshline.orchestrator.keys import SCOPES, ApiKeyStore

router = APIRouter(tags=["keys"])
NAME = r"^[A-Za-z0-9_.@-]{1,128}$"


class CreateKey(BaseModel):
    tenant: str = Field(pattern=NAME)
    user: str | None = Field(default=None, pattern=NAME, description="Bind the key to one end user.")
    scopes: list[str] = Field(default_factory=lambda: ["chat"], min_length=1)
    name: str = Field(default="", max_length=200)

    @field_validator("scopes")
    @classmethod
    def _known(cls, scopes: list[str]) -> list[str]:
        unknown = set(scopes) - SCOPES
        if unknown:
            raise ValueError(f"unknown scope(s) {sorted(unknown)}; known: {sorted(SCOPES)}")
        return scopes


class CreatedKey(BaseModel):
    id: str
    key: str
    tenant: str
    user: str | None
    scopes: list[str]


@router.post("/v1/keys", response_model=CreatedKey, status_code=201)
async def create_key(
    body: CreateKey, request: Request, _: Annotated[Principal, Depends(require_scope("admin"))]
) -> CreatedKey:
    store: ApiKeyStore = request.app.state.api_keys
    key, record = await store.create(tenant=body.tenant, user=body.user, scopes=body.scopes, name=body.name)
    return CreatedKey(id=record.id, key=key, tenant=record.tenant, user=record.user, scopes=record.scopes)
