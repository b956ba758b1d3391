"""Names the bindings in function_app.py need at import time. Kept free of imports so that
indexing the app (cold start) does not load the rest of the package."""

COPY_REQUESTS_QUEUE = "copy-requests"
COPY_POLLS_QUEUE = "copy-polls"
SYNC_PAGES_QUEUE = "sync-pages"
POISON_SUFFIX = "-poison"
STORAGE_CONNECTION = "AzureWebJobsStorage"
SYNC_SCHEDULE_SETTING = "DR_SYNC_SCHEDULE"
DEFAULT_SYNC_SCHEDULE = "0 0 2 * * *"
# Every 30 s (shared.copy.watchdog.WATCHDOG_PERIOD): a job whose instance died waits at most about
# the watchdog's grace plus this period.
WATCHDOG_SCHEDULE = "*/30 * * * * *"
RETENTION_SCHEDULE = "0 30 3 * * *"  # daily at 03:30 UTC, after the default sync
