"""One small router per area; ``ROUTERS`` is what the app includes, ``UPLOAD_PATHS`` what takes files."""

from repurpose.gateway.routes import (
    alerts,
    datasets,
    feedback,
    keys,
    libraries,
    models,
    monitors,
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
    monitors.router,
    feedback.router,
    alerts.router,
    targets.router,
    scoring.router,
    libraries.router,
    screens.router,
    keys.router,
)
UPLOAD_PATHS = {  # route template -> what a 413 for too large a file tells the caller to do
    datasets.UPLOAD_PATH: "split the file",
    libraries.UPLOAD_PATH: "split the file",
    feedback.UPLOAD_PATH: "split the file",
    models.RETRIEVAL_PATH: "split the held-out set (each target is ranked on its own: a file per target)",
}

__all__ = ["ROUTERS", "UPLOAD_PATHS"]
