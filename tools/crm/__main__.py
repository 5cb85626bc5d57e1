"""``python -m meshline.tools.crm``: run the crm tool service."""

from __future__ import annotations

from meshline.service import run_service
from meshline.tools.crm.app import create_app
from meshline.tools.crm.settings import CRMSettings


def main() -> None:
    settings = CRMSettings()
    run_service(lambda _: create_app(settings), settings)


if __name__ == "__main__":
    main()
