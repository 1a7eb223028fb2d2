"""Shared test setup.

Prefect writes its settings, database and logs under ``~/.prefect`` unless
``PREFECT_HOME`` says otherwise; tests must never touch the user's home, so a
temporary ``PREFECT_HOME`` is set here, before any test module imports Prefect.
``flows`` is imported here too, so that its Prefect defaults (flows/__init__.py:
startup timeout, telemetry, the loggers Prefect sends to the API) are in place
before Prefect is imported, as with ``hardmine run``.
"""

import os
import tempfile

os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="hardmine-prefect-home-")
os.environ.pop("PREFECT_API_URL", None)  # never talk to a real server by accident

import flows  # noqa: E402,F401  (sets Prefect defaults; imports no Prefect itself)
