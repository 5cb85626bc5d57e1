"""What a tool is: a typed async function, described by its signature and docstring."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from meshline.contracts import NAME_PATTERN, ToolSpec


@dataclass(frozen=True)
class ToolContext:
    """Who the call is for, from the verified service token (never from arguments), and a session.

    ``tenant`` is the token's ``tenant`` claim (the business whose service this is: one shop, one
    support desk) and ``customer`` its ``sub`` (that tenant's end user). Partition every piece of
    data by both: customer ids repeat across tenants, so ``dev`` of one tenant and ``dev`` of
    another are two different people. Never take a tenant or customer from the arguments (the
    model writes those, and a prompt can steer it): a tool answers for ``ctx`` only, and another
    tenant's or customer's object is "not found".

    The session belongs to the kit and is scoped to this tenant and customer: ORM queries on
    :class:`~meshline.tools.kit.tenancy.TenantOwned` / ``CustomerOwned`` tables see only their rows
    and new rows are stamped with them, whatever the tool's own filters (raw SQL and Core
    statements are not covered: filter those yourself). It commits once the tool returns
    (together with the idempotency record, so a side effect and its stored result are one
    transaction) and rolls back when the tool raises. Tools may flush, never commit.
    """

    tenant: str
    customer: str
    session: AsyncSession


ToolFunction = Callable[[Any, ToolContext], Awaitable[BaseModel]]


@dataclass(frozen=True)
class ToolDef:
    name: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    side_effects: bool
    function: ToolFunction

    def spec(self) -> ToolSpec:
        return ToolSpec(
            name=self.name,
            description=self.description,
            input_schema=self.input_model.model_json_schema(),
            output_schema=self.output_model.model_json_schema(),
            side_effects=self.side_effects,
        )


def _model(hint: Any, what: str, fn_name: str) -> type[BaseModel]:
    if not (inspect.isclass(hint) and issubclass(hint, BaseModel)):
        raise TypeError(f"tool {fn_name}: {what} must be a pydantic model, got {hint!r}")
    return hint


def tool(*, side_effects: bool = False, name: str | None = None) -> Callable[[ToolFunction], ToolDef]:
    """Make ``async def f(args: In, ctx: ToolContext) -> Out`` a tool; its docstring is the description."""

    def wrap(function: ToolFunction) -> ToolDef:
        fn_name: str = name or str(getattr(function, "__name__", ""))
        if not NAME_PATTERN.match(fn_name):
            raise TypeError(f"tool name {fn_name!r} must match {NAME_PATTERN.pattern}")
        if not inspect.iscoroutinefunction(function):
            raise TypeError(f"tool {fn_name} must be an async function")
        hints = get_type_hints(function)
        params = [p for p in inspect.signature(function).parameters if p in hints]
        if len(params) != 2:
            raise TypeError(f"tool {fn_name} must take (args: Model, ctx: ToolContext)")
        return ToolDef(
            name=fn_name,
            description=inspect.cleandoc(function.__doc__ or "").strip(),
            input_model=_model(hints[params[0]], "its first parameter", fn_name),
            output_model=_model(hints.get("return"), "its return type", fn_name),
            side_effects=side_effects,
            function=function,
        )

    return wrap
