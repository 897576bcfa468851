"""A request's path below the application's route prefix (Serve passes the prefix as ``root_path``)."""

from __future__ import annotations

from starlette.types import Scope


def route_path(scope: Scope) -> str:
    """``/v1/predict`` for ``/limited/v1/predict`` served under the route prefix ``/limited``."""
    path: str = scope.get("path", "")
    root = scope.get("root_path", "") or ""
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root) :] or "/"
    return path
