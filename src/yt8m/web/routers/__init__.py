"""One router per resource: health, uploads, media, jobs, videos, predictions, labels, records, page."""

from yt8m.web.routers import health, jobs, labels, media, page, predictions, records, uploads, videos

ROUTERS = [health.router, uploads.router, media.router, jobs.router, predictions.router, videos.router,
           labels.router, records.router, page.router]

__all__ = ["ROUTERS"]
