"""Agent profiles: the YAML that turns the one assistant runtime into a specific agent."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from meshline.contracts import NAME_PATTERN, Manifest
from meshline.errors import InvalidConfig

PROFILES_DIR = Path(__file__).parent / "profiles"
MAX_EXAMPLES = 25


class ProfileError(InvalidConfig, ValueError):
    """A profile that cannot be found or does not validate (a configuration error at startup)."""


class Profile(BaseModel):
    """Who an agent is (name, description, routing examples), how it talks and what it may call."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = Field(min_length=1, max_length=2000)
    examples: list[str] = Field(default_factory=list, max_length=MAX_EXAMPLES)
    system_prompt: str = Field(min_length=1)
    uses: list[str] = Field(default_factory=list, description="Tool services this agent may call.")
    tools: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Per service in uses, the only tools of it the model is offered; a service not named here "
        "offers all of its tools.",
    )
    model: str = Field(default="default", min_length=1, description="Model alias in the LLM layer.")
    max_steps: int = Field(default=6, ge=1, le=50, description="LLM calls per task, tool rounds included.")
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError("name must be lowercase letters, digits, '-' or '_', starting with a letter")
        return value

    @model_validator(mode="after")
    def _tools_of_used_services(self) -> Profile:
        for service, names in self.tools.items():
            if service not in self.uses:
                raise ValueError(f"tools: {service!r} is not in uses {self.uses}")
            if not names:
                raise ValueError(f"tools: {service!r} lists no tools (leave it out to allow all of them)")
            bad = [n for n in names if not NAME_PATTERN.match(n)]
            if bad:
                raise ValueError(f"tools: {service!r} has invalid tool names {bad}")
        return self

    def manifest(self, version: str) -> Manifest:
        return Manifest(
            name=self.name,
            kind="agent",
            version=version,
            description=self.description,
            examples=self.examples,
            uses=self.uses,
        )


def profile_path(ref: str) -> Path:
    """A bare name means a bundled profile; anything that looks like a path is used as given."""
    if NAME_PATTERN.match(ref):
        return PROFILES_DIR / f"{ref}.yaml"
    return Path(ref).expanduser()


def load_profile(ref: str) -> Profile:
    path = profile_path(ref)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        bundled = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.yaml")))
        raise ProfileError(f"no profile {ref!r} at {path} (bundled profiles: {bundled})") from exc
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"cannot read profile {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ProfileError(f"profile {path} must be a YAML mapping")
    try:
        return Profile.model_validate(raw)
    except ValidationError as exc:
        raise ProfileError(f"invalid profile {path}: {exc}") from exc
