"""``python -m meshline.agents.llm``: run the LLM layer on its settings' host and port."""

from __future__ import annotations

import logging
import os

# litellm fetches a model price map from GitHub at import unless told to use its bundled copy;
# the mesh makes no network calls of its own beyond its configured providers.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from meshline.agents.llm.app import create_app  # noqa: E402
from meshline.agents.llm.settings import LlmSettings  # noqa: E402
from meshline.service import run_service  # noqa: E402

LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")


def main() -> None:
    for name in LITELLM_LOGGERS:  # litellm logs every call at INFO
        logging.getLogger(name).setLevel(logging.WARNING)
    settings = LlmSettings()
    run_service(lambda _: create_app(settings), settings)


if __name__ == "__main__":
    main()
