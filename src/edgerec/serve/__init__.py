"""The edge service: numpy inference over a verified artifact, SQLite + Redis user state.

Never imports ``edgerec.train`` or PyTorch.
"""

from edgerec.serve._app import App, create_app
from edgerec.serve._settings import Secret, Settings, load_settings

__all__ = ["App", "Secret", "Settings", "create_app", "load_settings"]
