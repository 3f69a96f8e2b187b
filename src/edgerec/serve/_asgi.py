"""Worker entry point for granian: settings come from the EDGEREC_* environment."""

from __future__ import annotations

from edgerec.logs import configure_json
from edgerec.serve._app import App
from edgerec.serve._settings import load_settings


def app_from_env() -> App:
    settings = load_settings()
    configure_json(settings.log_level)
    return App(settings)
