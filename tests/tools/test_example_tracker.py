"""The README's example tool service works as written: manifest, a call, auth."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from meshline.agents.assistant.profile import load_profile
from meshline.testing.asgi import asgi_client
from tests.tools.tool_tokens import tool_token

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shipment_tracker"


async def test_shipment_tracker_example(mesh_env: dict[str, str], token_keys: tuple[str, str]) -> None:
    spec = importlib.util.spec_from_file_location("shipment_tracker_service", EXAMPLE / "service.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = module.create_app()
    async with asgi_client(app, "http://t.test") as http:
        manifest = (await http.get("/v1/manifest")).json()
        assert manifest["name"] == "shipment-tracker" and manifest["tools"][0]["name"] == "track_parcel"
        token = tool_token(token_keys[0], "shipment-tracker", tenant="acme", user="alice")
        ok = await http.post(
            "/v1/tools/track_parcel",
            json={"tracking_number": "1Z999AA10123456784"},
            headers={"authorization": f"Bearer {token}"},
        )
        assert ok.status_code == 200 and ok.json()["stage"] and ok.json()["eta_days"] >= 0
        assert (await http.post("/v1/tools/track_parcel", json={"tracking_number": "x"})).status_code == 401
    assert load_profile(str(EXAMPLE / "tracker.yaml")).uses == ["shipment-tracker"]
