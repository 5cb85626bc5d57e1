"""Starts, watches and stops the local mesh's processes (``meshline up``)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from meshline.cli.local_mesh import ProcessSpec
from meshline.cli.private_files import PRIVATE_UMASK, open_private_log, private_dir

STOP_GRACE_S = 10.0


class Supervisor:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, tuple[ProcessSpec, subprocess.Popen[bytes]]] = {}
        private_dir(logs)

    def start(self, spec: ProcessSpec) -> None:
        with open_private_log(self.logs / f"{spec.name}.log") as log:
            proc = subprocess.Popen(
                spec.argv,
                env={**os.environ, **spec.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops children in order
                umask=PRIVATE_UMASK,  # what the service creates (SQLite, Chroma...) is private from the start
            )
        self.procs[spec.name] = (spec, proc)

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def wait_ready(self, spec: ProcessSpec, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        _, proc = self.procs[spec.name]
        headers = {"authorization": f"Bearer {spec.ready_key}"} if spec.ready_key else {}
        with httpx.Client(timeout=2.0, headers=headers) as client:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"{spec.name} exited with {proc.returncode}:\n{self.log_tail(spec.name)}")
                try:
                    if client.get(spec.url + (spec.ready_path or "/")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.3)
        raise RuntimeError(f"{spec.name} was not ready after {timeout_s:.0f}s:\n{self.log_tail(spec.name)}")

    def stop(self, name: str) -> None:
        """Stop one process (SIGTERM, then SIGKILL after the grace period) and forget it."""
        _, proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def dead(self) -> list[str]:
        return [name for name, (_, proc) in self.procs.items() if proc.poll() is not None]

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, (_, proc) in self.procs.items()}

    def stop_all(self) -> None:
        """SIGTERM in reverse start order, then SIGKILL whatever outlives the grace period."""
        for _, proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for _, proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
