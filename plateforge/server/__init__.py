"""The plate reader over HTTP: ``create_app`` (FastAPI) and the page it serves; ``plateforge serve`` runs it."""

from plateforge.server.app import create_app

__all__ = ["create_app"]
