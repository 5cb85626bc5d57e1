"""meshline/cli."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshline.exports import lazy_exports

if TYPE_CHECKING:
    from meshline.cli.local_mesh import (
        DEFAULT_PORTS,
        LOCAL_MODEL_KEY_VAR,
        LocalSecrets,
        ProcessSpec,
        ensure_admin_key,
        ensure_keys,
        service_specs,
    )
    from meshline.cli.ports import free_port, wait_for_port
    from meshline.cli.private_files import private_dir, write_private
    from meshline.cli.redis_server import redis_url_for, start_redis
    from meshline.cli.supervisor import Supervisor
    from meshline.cli.up_cmd import register_agents_and_mint_key

__all__ = [
    "DEFAULT_PORTS",
    "LOCAL_MODEL_KEY_VAR",
    "LocalSecrets",
    "ProcessSpec",
    "Supervisor",
    "ensure_admin_key",
    "ensure_keys",
    "free_port",
    "private_dir",
    "redis_url_for",
    "register_agents_and_mint_key",
    "service_specs",
    "start_redis",
    "wait_for_port",
    "write_private",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "DEFAULT_PORTS": "meshline.cli.local_mesh",
        "LOCAL_MODEL_KEY_VAR": "meshline.cli.local_mesh",
        "LocalSecrets": "meshline.cli.local_mesh",
        "ProcessSpec": "meshline.cli.local_mesh",
        "Supervisor": "meshline.cli.supervisor",
        "ensure_admin_key": "meshline.cli.local_mesh",
        "ensure_keys": "meshline.cli.local_mesh",
        "free_port": "meshline.cli.ports",
        "private_dir": "meshline.cli.private_files",
        "redis_url_for": "meshline.cli.redis_server",
        "register_agents_and_mint_key": "meshline.cli.up_cmd",
        "service_specs": "meshline.cli.local_mesh",
        "start_redis": "meshline.cli.redis_server",
        "wait_for_port": "meshline.cli.ports",
        "write_private": "meshline.cli.private_files",
    },
)
