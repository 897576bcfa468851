"""One small router per area; ``ROUTERS`` is what the app includes, ``UPLOAD_PATHS`` what takes files."""

from repurpose.gateway.routes import (
    datasets,
    keys,
    libraries,
    models,
    operations,
    scoring,
    screens,
    targets,
    training,
)

ROUTERS = (
    operations.router,
    datasets.router,
    training.router,
    models.router,
    targets.router,
    scoring.router,
    libraries.router,
    screens.router,
    keys.router,
)
UPLOAD_PATHS = (datasets.UPLOAD_PATH, libraries.UPLOAD_PATH)

__all__ = ["ROUTERS", "UPLOAD_PATHS"]
