"""The ingest Celery app: ``celery -A services.ingest.worker worker -Q ingest``."""

from services.common.celery import create_celery_app
from services.ingest import SERVICE
from services.ingest.settings import IngestSettings

settings = IngestSettings()
app = create_celery_app(SERVICE, settings, include=("services.ingest.tasks",))
