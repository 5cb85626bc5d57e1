"""``python -m meshline.memory``: run the memory service (settings from ``MESHLINE_MEMORY_*``)."""

from __future__ import annotations

from meshline.memory.app import create_app
from meshline.memory.settings import MemorySettings
from meshline.service import run_service


def main() -> None:
    settings = MemorySettings()
    run_service(lambda _settings: create_app(settings), settings)


if __name__ == "__main__":
    main()
