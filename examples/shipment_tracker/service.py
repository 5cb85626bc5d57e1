"""A complete Meshline tool service in a few dozen lines: parcel tracking by tracking number.

Run:  python examples/shipment_tracker/service.py   (port 9300; MESHLINE_TRACKER_PORT to change)
Then: meshline register http://127.0.0.1:9300
"""

from __future__ import annotations

import hashlib

from fastapi import FastAPI
from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from meshline.service import run_service
from meshline.tools.kit import ToolContext, ToolServiceSettings, create_tool_app, tool

STAGES = ("label created", "picked up", "in transit", "out for delivery", "delivered")


class TrackerSettings(ToolServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MESHLINE_TRACKER_", extra="ignore")
    name: str = "shipment-tracker"
    port: int = 9300


class TrackingQuery(BaseModel):
    tracking_number: str = Field(min_length=6, max_length=40, description="The carrier's tracking number.")


class TrackingStatus(BaseModel):
    tracking_number: str
    stage: str
    eta_days: int


@tool()
async def track_parcel(args: TrackingQuery, ctx: ToolContext) -> TrackingStatus:
    """Where a parcel is, by its tracking number, and how many days until it arrives."""
    # No stored data here; a tool that stores some partitions it by ctx.tenant and ctx.customer (see README).
    step = hashlib.sha256(args.tracking_number.encode()).digest()[0] % len(STAGES)
    return TrackingStatus(tracking_number=args.tracking_number, stage=STAGES[step], eta_days=len(STAGES) - 1 - step)


def create_app(settings: TrackerSettings | None = None) -> FastAPI:
    return create_tool_app(
        settings=settings or TrackerSettings(),
        tools=[track_parcel],
        description="Tracks parcels of any carrier by tracking number.",
    )


if __name__ == "__main__":
    settings = TrackerSettings()
    run_service(lambda _: create_app(settings), settings)
