"""The email Celery app: ``celery -A services.email.worker worker -Q email``."""

from services.common.celery import create_celery_app
from services.email import SERVICE
from services.email.settings import EmailSettings

settings = EmailSettings()
app = create_celery_app(SERVICE, settings, include=("services.email.tasks",))
