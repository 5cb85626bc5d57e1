"""``python -m meshline.orchestrator``."""

from meshline.orchestrator.app import create_app
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.service import run_service

if __name__ == "__main__":
    run_service(create_app, OrchestratorSettings())  # type: ignore[arg-type]
