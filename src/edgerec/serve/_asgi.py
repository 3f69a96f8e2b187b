"""Worker entry point for granian: settings come from the EDGEREC_* environment."""

from __future__ import annotations

from edgerec.logs import configure_json
from edgerec.serve._app import App
from edgerec.serve._heap import keep_freed_memory
from edgerec.serve._settings import load_settings


def app_from_env() -> App:
    settings = load_settings()
    configure_json(settings.log_level)
    keep_freed_memory()
    return App(settings)
