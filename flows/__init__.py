"""flows: the ``mine-and-retrain`` Prefect flow, its tasks, and ``hardmine run``/``serve``.

    hardmine run --help

Importing the package sets three Prefect defaults (before Prefect is imported;
the environment still wins): the embedded server gets 120 s to start instead
of 20, because on a busy 2-core machine it missed 20 s and failed the run; its
usage telemetry is off, because its first write raced the database migration
("database is locked" traceback at the start of `hardmine run`); and
``PREFECT_LOGGING_EXTRA_LOGGERS`` names our loggers, so that Prefect attaches
its API log handler to them and what they log inside a task run reaches that
task run's logs (the terminal gets them through the root logger). Prefect reads
that setting once, when it is imported: a process that imports Prefect before
``flows`` (a worker's flow run) needs it in its environment, which is why
``prefect.yaml`` sets it in the deployment's ``job_variables``.

It also fixes the thread counts of TensorFlow, tf.data and numba for this process
(:class:`model.settings.Threads`, overridable by ``HARDMINE_<FIELD>``), before either
library is imported: ``hardmine``'s commands and a flow run all import ``flows`` first.
"""

import logging
import os

import model  # noqa: F401  (sets TensorFlow's oneDNN default before anything loads TensorFlow: model/__init__)

# our packages log under "hardmine.<package>"; absl carries Keras' own messages
EXTRA_LOGGERS = ("hardmine", "absl")

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", ",".join(EXTRA_LOGGERS))
# Prefect attaches a handler, not a level: ours log at INFO (the root's WARNING would drop the
# line per epoch); absl keeps the level absl gives it (WARNING unless asked for more).
logging.getLogger("hardmine").setLevel(logging.INFO)

from miner.config import HardmineError  # noqa: E402
from model.settings import Threads, apply_threads  # noqa: E402  (no TensorFlow: 12 ms)

try:
    apply_threads()
except HardmineError:  # a bad HARDMINE_<FIELD>: the defaults here; the command reports it (flows.cli)
    apply_threads(Threads())
