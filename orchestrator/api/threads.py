"""``GET``/``DELETE /v1/threads/{id}``: a caller sees and deletes only its own threads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from meshline.contracts import ThreadView
from meshline.orchestrator.auth import Principal, require_scope
from meshline.orchestrator.identity import acting_user
from meshline.orchestrator.turns import TurnRunner

router = APIRouter(tags=["threads"])
ThreadId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
User = Annotated[str | None, Query(max_length=128, description="The end user (keys with the act_as_user scope).")]


@router.get("/v1/threads/{thread_id}", response_model=ThreadView)
async def get_thread(
    thread_id: ThreadId,
    request: Request,
    principal: Annotated[Principal, Depends(require_scope("chat"))],
    user: User = None,
) -> ThreadView:
    runner: TurnRunner = request.app.state.turns
    return await runner.thread(acting_user(principal, user), thread_id)


@router.delete("/v1/threads/{thread_id}", status_code=204)
async def delete_thread(
    thread_id: ThreadId,
    request: Request,
    principal: Annotated[Principal, Depends(require_scope("chat"))],
    user: User = None,
) -> Response:
    runner: TurnRunner = request.app.state.turns
    await runner.delete_thread(acting_user(principal, user), thread_id)
    return Response(status_code=204)
