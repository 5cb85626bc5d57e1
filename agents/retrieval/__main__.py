"""``python -m meshline.agents.retrieval``: run the knowledge agent (settings from ``MESHLINE_RETRIEVAL_*``)."""

from __future__ import annotations

from meshline.agents.retrieval.app import create_app
from meshline.agents.retrieval.settings import RetrievalSettings
from meshline.service import run_service


def main() -> None:
    settings = RetrievalSettings()
    run_service(lambda _settings: create_app(settings), settings)


if __name__ == "__main__":
    main()
