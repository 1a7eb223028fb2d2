"""Score a round's candidates on a Dask cluster (issue 14): ``--dask-address``.

    hardmine run --dask-address local:2 ...            # two worker processes on this machine
    hardmine run --dask-address tcp://host:8786 ...    # a running scheduler (README, "Dask")

The round stays :func:`miner.mining.mine`; only where its blocks are scored
changes. :meth:`Cluster.blocks` sends the round's model file once to every
worker (``scatter(broadcast=True)``), submits chunks of ``chunk_blocks``
blocks (index ranges of the round's counter-based stream) a few ahead of what
the flow has consumed, and yields their blocks in index order; each chunk
returns its blocks' counts and eligible candidates only, never the rest of
what it drew. A worker loads the round's model once (:func:`_score_chunk`
keeps it per process by content hash), not once per chunk. Workers never open
the bank: the flow stays its one writer. A worker killed mid-round loses its
chunks, which the scheduler computes again elsewhere; the result does not
change, because a block is a pure function of (plan, seed, model, index).

bench/experiment.py runs whole commands on the same clusters (:func:`run_command`,
one (arm, seed) run per task), with the same addresses and checks.

Dask is an extra (``pip install -e .[dask]``): this module imports it only
when a cluster is asked for, and :func:`check_address` (called by the
preflight) refuses a missing extra or an unreachable scheduler with one line.
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
import subprocess
import threading
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

from miner.config import HardmineError, require
from miner.mining import Block, Job, score_block

WHERE = "mine-and-retrain"
ALONE = "mine in this process"  # what the flow does without --dask-address
CHUNK_BLOCKS = 4  # blocks per Dask task: 2,048 candidates, ~1-2 s of scoring on one core
AHEAD_PER_THREAD = 2  # chunks in flight per worker thread: keeps workers busy while the flow waits in order
CONNECT_SECONDS = 10.0
MAX_LOCAL_WORKERS = 64
DEFAULT_PORT = 8786


def _parse(address: str, where: str = WHERE, alone: str = ALONE) -> tuple[str, int | str]:
    """("local", n_workers) or ("remote", "tcp://host:port"); ``where`` and ``alone`` name the
    command and what it does without a cluster in the error line."""
    if address.startswith("local:"):
        n = address[len("local:"):]
        require(n.isdigit() and 1 <= int(n) <= MAX_LOCAL_WORKERS,
                f"{where}: dask_address {address!r}: local:N needs N workers in 1..{MAX_LOCAL_WORKERS}, "
                "e.g. local:2")
        return "local", int(n)
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:  # not a number, or out of range
        port = None
    require(parts.scheme in ("tcp", "tls") and bool(parts.hostname) and port is not None
            and not parts.path.strip("/"),
            f"{where}: dask_address {address!r} is not a scheduler address; give tcp://HOST:PORT "
            f"(dask scheduler prints it), local:N, or nothing to {alone}")
    return "remote", f"{parts.scheme}://{parts.hostname}:{port}"


def check_address(address: str, where: str = WHERE, alone: str = ALONE) -> None:
    """The preflight's check of ``dask_address``: the extra is installed and a remote
    scheduler answers on its port (a TCP connect, seconds at most)."""
    if not address:
        return
    kind, scheduler = _parse(address, where, alone)
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise HardmineError(f"{where}: dask_address {address!r} needs the dask extra, which is not "
                            "installed; pip install -e '.[dask]' (or drop --dask-address)") from None
    if kind == "remote":
        parts = urlsplit(scheduler)
        try:
            socket.create_connection((parts.hostname, parts.port), timeout=CONNECT_SECONDS).close()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise HardmineError(f"{where}: cannot reach the Dask scheduler at {scheduler} ({reason.lower()}); "
                                "start one with `dask scheduler` and give the address it prints, or drop "
                                f"--dask-address to {alone}") from None


class Cluster:
    """A connected Dask client, as the mine task uses it."""

    def __init__(self, client, chunk_blocks: int = CHUNK_BLOCKS) -> None:
        self.client = client
        self.chunk_blocks = chunk_blocks

    def __repr__(self) -> str:  # Prefect shows task parameters by repr
        return f"Cluster({self.client.scheduler.address})"

    def blocks(self, job: Job, model_path: str) -> Iterator[Block]:
        """Round ``job``'s blocks, scored by the workers with the model at ``model_path``,
        in index order. Closing the iterator early cancels the chunks still running."""
        from model.infer import onednn_enabled
        data = Path(model_path).read_bytes()  # ~1-2 MB: sent to every worker once per round
        key = hashlib.sha256(data).hexdigest()
        [model] = self.client.scatter([data], broadcast=True, hash=False)
        onednn = onednn_enabled()  # the workers must run the same kernels (_score_chunk)
        chunks = [(a, min(a + self.chunk_blocks, job.n_blocks)) for a in range(0, job.n_blocks, self.chunk_blocks)]
        ahead = max(2, AHEAD_PER_THREAD * sum(self.client.nthreads().values()))
        running: deque = deque()
        try:
            for first, stop in chunks[:ahead]:
                running.append(self._submit(job, first, stop, key, model, onednn))
            submitted = len(running)
            while running:
                blocks = running.popleft().result()
                if submitted < len(chunks):
                    running.append(self._submit(job, *chunks[submitted], key, model, onednn))
                    submitted += 1
                yield from blocks
        finally:
            for future in running:
                future.cancel()
            model.release()

    def _submit(self, job: Job, first: int, stop: int, key: str, model, onednn: bool):
        return self.client.submit(_score_chunk, job, first, stop, key, model, onednn, pure=False)


@contextmanager
def connect(address: str, where: str = WHERE, alone: str = ALONE) -> Iterator[Cluster | None]:
    """A :class:`Cluster` for ``address`` while the block runs (None: mine in this process);
    ``local:N`` starts N worker processes on loopback and stops them after."""
    if not address:
        yield None
        return
    from distributed import Client, LocalCluster
    kind, scheduler = _parse(address, where, alone)
    local = None
    if kind == "local":
        local = LocalCluster(n_workers=scheduler, threads_per_worker=1, processes=True, host="127.0.0.1",
                             dashboard_address=None)
        client = Client(local)
    else:
        try:
            client = Client(scheduler, timeout=CONNECT_SECONDS)
        except OSError as exc:
            raise HardmineError(f"{where}: cannot reach the Dask scheduler at {scheduler} ({exc}); start one with "
                                f"`dask scheduler`, or drop --dask-address to {alone}") from None
    try:
        yield Cluster(client)
    finally:
        client.close()
        if local is not None:
            local.close()


# ---------------------------------------------------------------- on the workers

_LOADED: dict[str, object] = {}  # model hash -> predict: the round's model, once per worker process
_LOCK = threading.Lock()


def _same_kernels(onednn: bool) -> None:
    from model.infer import onednn_enabled
    here = onednn_enabled()
    require(here == onednn,
            f"{WHERE}: a Dask worker runs TensorFlow with oneDNN {'on' if here else 'off'}, the flow with it "
            f"{'on' if onednn else 'off'}, so their probabilities would differ in the last bits; start the "
            "workers with the flow's TF_ENABLE_ONEDNN_OPTS (model/__init__.py)")


def _predict_for(key: str, data: bytes):
    import tempfile
    with _LOCK:
        if key not in _LOADED:
            from model.infer import predictor  # first: the model package sets oneDNN before TensorFlow loads
            import keras
            with tempfile.TemporaryDirectory(prefix="hardmine-model-") as tmp:
                path = os.path.join(tmp, "model.keras")
                Path(path).write_bytes(data)
                model = keras.models.load_model(path)
            _LOADED.clear()  # one round's model at a time
            _LOADED[key] = predictor(model)
        return _LOADED[key]


def run_command(cmd: list[str], cwd: str) -> subprocess.CompletedProcess:
    """``cmd`` as a subprocess in ``cwd``, on a worker, tied to it: the kernel sends the command
    SIGTERM if the worker dies first (``PR_SET_PDEATHSIG``), so closing a local cluster ends
    what it was running (bench/experiment.py's parallel sweep runs its commands this way)."""
    from flows.run_cli import _die_with_parent
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          preexec_fn=functools.partial(_die_with_parent, os.getpid()))


def _score_chunk(job: Job, first: int, stop: int, key: str, data: bytes, onednn: bool) -> list[Block]:
    """Blocks ``first`` .. ``stop - 1`` of the round, on a worker whose TensorFlow must run
    the same kernels as the flow's (``onednn``): oneDNN's and TensorFlow's own differ in
    the last bits, which can reorder the hardest cases."""
    _same_kernels(onednn)  # before the model loads: a refused worker does no work
    predict = _predict_for(key, data)
    return [score_block(job, b, predict) for b in range(first, stop)]
