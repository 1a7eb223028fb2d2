"""Shared test setup.

Prefect writes its settings, database and logs under ``~/.prefect`` unless
``PREFECT_HOME`` says otherwise; tests must never touch the user's home, so a
temporary ``PREFECT_HOME`` is set here, before any test module imports Prefect.
"""

import os
import tempfile

os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="hardmine-prefect-home-")
os.environ.pop("PREFECT_API_URL", None)  # never talk to a real server by accident
