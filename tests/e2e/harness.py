"""The handle e2e tests get on a running mesh."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from meshline.cli.local_mesh import ProcessSpec
from meshline.cli.supervisor import Supervisor

READY_TIMEOUT_S = 180.0


@dataclass
class Mesh:
    url: str
    api_key: str
    admin_key: str
    home: Path
    fake_llm_url: str
    supervisor: Supervisor
    specs: dict[str, ProcessSpec]

    def restart(self, name: str) -> None:
        self.supervisor.stop(name)
        self.supervisor.start(self.specs[name])
        self.supervisor.wait_ready(self.specs[name], READY_TIMEOUT_S)

    def logs(self) -> dict[str, str]:
        return {p.stem: p.read_text(errors="replace") for p in (self.home / "logs").glob("*.log")}
