"""``python -m meshline.agents.assistant``: run the agent of ``MESHLINE_ASSISTANT_PROFILE``."""

from __future__ import annotations

from meshline.agents.assistant.app import create_app
from meshline.agents.assistant.settings import AssistantSettings
from meshline.service import run_service


def main() -> None:
    settings = AssistantSettings()
    run_service(lambda _: create_app(settings), settings)


if __name__ == "__main__":
    main()
