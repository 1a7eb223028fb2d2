"""flows: the ``mine-and-retrain`` Prefect flow, its tasks, and ``hardmine run``/``serve``.

    hardmine run --help

Importing the package sets two Prefect defaults (before Prefect is imported;
the environment still wins): the embedded server gets 120 s to start instead
of 20, because on a busy 2-core machine it missed 20 s and failed the run; and
its usage telemetry is off, because its first write raced the database
migration ("database is locked" traceback at the start of `hardmine run`).
"""

import os

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
