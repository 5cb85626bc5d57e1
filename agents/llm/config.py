"""The ``models:`` section of the mesh config file (``meshline.yaml``): aliases and their deployments.

Each entry is one deployment; entries sharing an alias form one model group that the router
balances over. Keys and API bases may reference the environment as ``${NAME}`` or
``os.environ/NAME`` (litellm's spelling); both are resolved at load time so a missing variable
fails at startup, not on the first request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from meshline.errors import InvalidConfig
from meshline.json_types import JsonObject

DEFAULT_ALIAS = "default"
_ENV_BRACES = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ENV_LITELLM = "os.environ/"
# Set from the deployment's own fields; a `params` entry must not shadow them.
_RESERVED_PARAMS = frozenset({"model", "api_base", "api_key"})


class ConfigError(InvalidConfig, ValueError):
    """The mesh config file is missing, unreadable or invalid (still a ``ValueError``, as it always was)."""


class Deployment(BaseModel):
    """One deployment of a model alias: a litellm model string and how to reach it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alias: str = Field(pattern=r"^[A-Za-z0-9_.:/-]{1,128}$", description="Name callers use as `model`.")
    model: str = Field(min_length=1, description="litellm model string, e.g. openai/gpt-4o-mini.")
    api_base: str | None = None
    api_key: SecretStr | None = None
    params: JsonObject = Field(default_factory=dict, description="Extra litellm_params (timeout, rpm...).")

    @field_validator("params")
    @classmethod
    def _no_reserved(cls, params: JsonObject) -> JsonObject:
        clash = sorted(_RESERVED_PARAMS & params.keys())
        if clash:
            raise ValueError(f"set {', '.join(clash)} on the entry itself, not under params")
        return params

    def litellm_params(self, timeout_s: float) -> JsonObject:
        """The deployment's ``litellm_params`` for the router."""
        params: JsonObject = {"model": self.model, "timeout": timeout_s}
        if self.api_base:
            params["api_base"] = self.api_base
        if self.api_key is not None:
            params["api_key"] = self.api_key.get_secret_value()
        params.update(self.params)
        return params


class TenantLimits(BaseModel):
    """Per-tenant quotas; ``None`` means unlimited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)
    budget_usd: float | None = Field(default=None, ge=0, description="Spend allowed per calendar month (UTC).")


class LlmPolicy(BaseModel):
    """The ``llm:`` section: fallback chains and tenant quotas (traffic weights live in Redis)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fallbacks: dict[str, list[str]] = Field(
        default_factory=dict, description="alias -> aliases tried in order when it fails (errors, 429, timeouts)."
    )
    context_window_fallbacks: dict[str, list[str]] = Field(
        default_factory=dict, description="alias -> larger-context aliases tried when the prompt is too long."
    )
    default_limits: TenantLimits = Field(default_factory=TenantLimits)
    tenants: dict[str, TenantLimits] = Field(default_factory=dict)

    def limits_for(self, tenant: str) -> TenantLimits:
        return self.tenants.get(tenant, self.default_limits)


class LlmConfig(BaseModel):
    """The part of the mesh config the LLM layer reads; other sections belong to other services."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    models: list[Deployment] = Field(min_length=1)
    llm: LlmPolicy = Field(default_factory=LlmPolicy)

    def aliases(self) -> dict[str, list[Deployment]]:
        """Deployments grouped by alias, in config order."""
        groups: dict[str, list[Deployment]] = {}
        for deployment in self.models:
            groups.setdefault(deployment.alias, []).append(deployment)
        return groups


def _resolve_env(value: str, environ: Mapping[str, str], where: str) -> str:
    def lookup(name: str) -> str:
        if name not in environ:
            raise ConfigError(f"{where} references the environment variable {name}, which is not set")
        return environ[name]

    if value.startswith(_ENV_LITELLM):
        return lookup(value.removeprefix(_ENV_LITELLM))
    return _ENV_BRACES.sub(lambda match: lookup(match.group(1)), value)


def _resolve_entries(raw: Any, environ: Mapping[str, str], source: str) -> Any:
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), list):
        return raw  # the model validation says what is wrong
    entries = []
    for index, entry in enumerate(raw["models"]):
        if isinstance(entry, dict):
            entry = dict(entry)
            for key in ("api_base", "api_key"):
                if isinstance(entry.get(key), str):
                    entry[key] = _resolve_env(entry[key], environ, f"{source}: models[{index}].{key}")
        entries.append(entry)
    return {**raw, "models": entries}


def parse_config(raw: Any, environ: Mapping[str, str], source: str = "config") -> LlmConfig:
    """Validate an already-loaded mapping (``models: [...]``) into an :class:`LlmConfig`."""
    try:
        config = LlmConfig.model_validate(_resolve_entries(raw, environ, source))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{source} is not a valid model config: {problems}") from exc
    aliases = config.aliases()
    if DEFAULT_ALIAS not in aliases:
        raise ConfigError(f"{source} must define the {DEFAULT_ALIAS!r} model alias")
    chains = {**config.llm.fallbacks, **config.llm.context_window_fallbacks}
    unknown = sorted({a for k, v in chains.items() for a in [k, *v]} - aliases.keys())
    if unknown:
        raise ConfigError(f"{source}: llm fallbacks name unknown aliases: {', '.join(unknown)}")
    return config


def load_config(
    path: Path,
    *,
    override_model: str | None = None,
    override_api_base: str | None = None,
    override_api_key: SecretStr | None = None,
    environ: Mapping[str, str],
) -> LlmConfig:
    """Read ``path``; with ``override_model`` the ``default`` alias points at it instead.

    A missing file is an error unless the override is given, in which case the config is just
    the ``default`` alias. Without ``override_api_key`` litellm reads the provider's own env var.
    """
    if not path.exists():
        if override_model is None:
            raise ConfigError(f"model config {path} does not exist (set MESHLINE_LLM_CONFIG or MESHLINE_LLM_MODEL)")
        override = Deployment(
            alias=DEFAULT_ALIAS, model=override_model, api_base=override_api_base, api_key=override_api_key
        )
        return LlmConfig(models=[override])
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read model config {path}: {exc}") from exc
    if override_model is not None and isinstance(raw, dict) and isinstance(raw.get("models"), list):
        # The override replaces the default alias, so its entries need not resolve.
        raw = {
            **raw,
            "models": [m for m in raw["models"] if not (isinstance(m, dict) and m.get("alias") == DEFAULT_ALIAS)],
        }
        raw["models"].insert(0, {"alias": DEFAULT_ALIAS, "model": override_model, "api_base": override_api_base})
    return parse_config(raw, environ, str(path))
