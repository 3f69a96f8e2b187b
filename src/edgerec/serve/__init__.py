"""The edge service: numpy inference over a verified artifact, SQLite + Redis user state.

Never imports ``edgerec.train`` or PyTorch. ``App`` is imported lazily: importing this package
(for its settings) does not load numpy or the engine.
"""

from typing import TYPE_CHECKING, Any

from edgerec.serve._settings import Secret, Settings, load_settings

if TYPE_CHECKING:
    from edgerec.serve._app import App, create_app

__all__ = ["App", "Secret", "Settings", "create_app", "load_settings"]


def __getattr__(name: str) -> Any:
    if name in ("App", "create_app"):
        from edgerec.serve import _app

        return getattr(_app, name)
    raise AttributeError(name)
