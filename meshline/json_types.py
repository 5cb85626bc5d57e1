"""The one name for an untyped JSON object, used exactly where Meshline passes JSON through.

An OpenAI request or response body handed to or taken from litellm, a deployment's extra
``litellm_params``, a tool's arguments and result: Meshline does not read their fields, so it
does not model them. Anything whose fields the code reads gets a model instead.
"""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]
"""A JSON object passed through unread (a JSON boundary)."""
