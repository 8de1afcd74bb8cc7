"""What every request handler reaches through ``request.app.state``: one :class:`AppState`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from yt8m.web.jobs import JobRunner, JobStore
from yt8m.web.prediction_service import PredictionService
from yt8m.web.records import RecordService
from yt8m.web.resources import Resources
from yt8m.web.settings import Settings


@dataclass
class AppState:
    """The settings, loaded resources and services of one running app."""

    settings: Settings
    resources: Resources
    data_dir: Path
    jobs: JobStore
    runner: JobRunner
    predictions: PredictionService
    records: RecordService


def get_state(request: Request) -> AppState:
    """FastAPI dependency: the app's :class:`AppState` (set by the lifespan)."""
    return request.app.state.yt8m
