"""The OpenAI-compatible request body of ``POST /v1/chat/completions``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from meshline.json_types import JsonObject

MessageRole = Literal["system", "developer", "user", "assistant", "tool", "function"]

# Optional OpenAI parameters forwarded to the provider when the caller sets them.
PASSTHROUGH_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "n",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "user",
)


class CompletionMessage(BaseModel):
    """One message in OpenAI format; extra fields (``tool_calls``, ``tool_call_id``, ``name``) pass through."""

    model_config = ConfigDict(extra="allow")

    role: MessageRole
    content: str | list[JsonObject] | None = None


class CompletionRequest(BaseModel):
    """OpenAI ``chat.completions`` request; ``model`` is a Meshline alias (``default``, ``fast``...)."""

    # Unknown OpenAI parameters are ignored rather than rejected, as OpenAI clients send many.
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=128)
    messages: list[CompletionMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: JsonObject | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1, le=8)
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    tools: list[JsonObject] | None = None
    tool_choice: str | JsonObject | None = None
    parallel_tool_calls: bool | None = None
    response_format: JsonObject | None = None
    user: str | None = Field(default=None, max_length=256)
    cache: bool | None = Field(
        default=None, description="Meshline extension: true caches even a sampled request, false bypasses the cache."
    )

    def provider_kwargs(self) -> JsonObject:
        """The optional parameters the caller set, for ``Router.acompletion``."""
        return {name: getattr(self, name) for name in PASSTHROUGH_PARAMS if getattr(self, name) is not None}

    def provider_messages(self) -> list[JsonObject]:
        return [m.model_dump(exclude_unset=True) for m in self.messages]


class ModelCard(BaseModel):
    """One alias in ``GET /v1/models`` (OpenAI's model object, plus its stable version and size)."""

    id: str
    object: Literal["model"] = "model"
    owned_by: str = "meshline"
    stable: str
    deployments: int


class ModelList(BaseModel):
    """``GET /v1/models``: OpenAI's list format."""

    object: Literal["list"] = "list"
    data: list[ModelCard]
