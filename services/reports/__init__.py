"""The reports service: aggregates over ingested datasets, now or later, mailed when done."""

SERVICE = "reports"
BUILD = "reports.build"
RELEASE_DUE = "reports.release_due"
FIRE_SCHEDULE = "reports.fire_schedule"
