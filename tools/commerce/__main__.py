"""``python -m meshline.tools.commerce``: run the commerce tool service."""

from __future__ import annotations

from meshline.service import run_service
from meshline.tools.commerce.app import create_app
from meshline.tools.commerce.settings import CommerceSettings


def main() -> None:
    settings = CommerceSettings()
    run_service(lambda _: create_app(settings), settings)


if __name__ == "__main__":
    main()
