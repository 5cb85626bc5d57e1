"""Provider API keys: the references the model registry in Redis holds instead, and their resolution.

Redis never holds a provider key. A deployment's ``api_key`` in the registry is one of:

- ``os.environ/NAME`` (litellm's spelling): the variable NAME of the LLM layer's own
  environment. The admin API accepts only this form, and only for names matching
  ``MESHLINE_LLM_PROVIDER_KEY_VARS`` (default: ending in ``_API_KEY``), so a platform admin
  cannot have, say, ``MESHLINE_REDIS_URL`` sent to a base URL of their choosing. A literal key
  in an admin request is refused (400 ``literal_api_key``).
- ``config``: the key the config file gives that deployment (a literal or a reference there,
  resolved when the file was loaded); it stays in this process.

Keys are resolved here, in the LLM layer's process, when the litellm router is built.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from meshline.agents.llm.config import LlmConfig
from meshline.agents.llm.versions import CONFIG_KEY, ENV_KEY_PREFIX, DeploymentSpec, ModelVersion
from meshline.errors import BadRequest

log = logging.getLogger(__name__)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACES = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def env_reference(value: str) -> str | None:
    """NAME when ``value`` is exactly ``os.environ/NAME`` or ``${NAME}``; else None (a literal)."""
    name = value.removeprefix(ENV_KEY_PREFIX) if value.startswith(ENV_KEY_PREFIX) else None
    if name is None and (match := _BRACES.fullmatch(value)):
        name = match.group(1)
    return name if name is not None and _ENV_NAME.fullmatch(name) else None


class ProviderKeys:
    """Turns the registry's key references into keys, for the router and the readiness probe."""

    def __init__(self, config: LlmConfig, environ: Mapping[str, str], allowed_vars: str) -> None:
        self._config, self._environ = config, environ
        self._allowed = re.compile(allowed_vars)

    def admin_reference(self, api_key: str | None) -> str | None:
        """What an admin request's ``api_key`` is stored as: ``os.environ/NAME``, or a 400."""
        if api_key is None:
            return None
        name = env_reference(api_key)
        if name is None:
            raise BadRequest(
                "api_key must name an environment variable of the LLM layer (os.environ/NAME): "
                "provider keys are never stored in the model registry",
                code="literal_api_key",
            )
        if not self._allowed.fullmatch(name):
            raise BadRequest(
                f"api_key may only name variables matching {self._allowed.pattern!r}", code="api_key_not_allowed"
            )
        if name not in self._environ:
            raise BadRequest(f"the LLM layer has no environment variable {name}", code="api_key_not_set")
        return ENV_KEY_PREFIX + name

    def resolve(self, alias: str, version: ModelVersion, index: int) -> str | None:
        """The key of ``version``'s deployment ``index``; None when it has none (or cannot have one)."""
        spec = version.deployments[index]
        if spec.api_key is None:
            return None
        if spec.api_key == CONFIG_KEY:
            return self._from_config(alias, version, index, spec)
        name = spec.api_key.removeprefix(ENV_KEY_PREFIX)
        if version.source == "admin" and not self._allowed.fullmatch(name):
            log.warning("%s@%s names %s, which is not a provider key variable", alias, version.version, name)
            return None
        if name not in self._environ:
            log.warning("%s@%s needs %s, which is not set in this process", alias, version.version, name)
            return None
        return self._environ[name]

    def _from_config(self, alias: str, version: ModelVersion, index: int, spec: DeploymentSpec) -> str | None:
        entries = self._config.aliases().get(alias, [])
        entry = entries[index] if version.source == "config" and index < len(entries) else None
        if entry is None or (entry.model, entry.api_base) != (spec.model, spec.api_base):
            # Another replica's config wrote this version: its key is not in this process.
            log.warning("%s@%s: no matching deployment in this replica's config", alias, version.version)
            return None
        return entry.api_key.get_secret_value() if entry.api_key is not None else None
