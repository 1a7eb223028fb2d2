"""A progress bar for long commands (``hardmine generate``, ``evaluate``, ``bank export``),
on stderr and only when stderr is a terminal.

    with progress_bar(n, "drawing") as advance:
        for chunk in chunks:
            ...
            advance(len(chunk))

Piped or captured output (scripts, ``--json``, the CLI tests) never sees it:
stdout is never written, and a stderr that is not a terminal gets nothing, not
even click's one-line label.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator, TextIO

import click


Advance = Callable[..., None]  # advance(n, doing=None): n more items done; ``doing`` names the next step


@contextmanager
def progress_bar(total: int, label: str, stream: TextIO | None = None) -> Iterator[Advance]:
    """``advance(n, doing=None)`` for work of ``total`` items: a click progress bar (count,
    ETA, what it is doing) on ``stream`` (default stderr) when it is a terminal; otherwise a
    callback that does nothing."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    if total <= 0 or isatty is None or not isatty():
        yield lambda n, doing=None: None
        return
    with click.progressbar(length=total, label=label, file=stream, show_pos=True, show_eta=True,
                           item_show_func=lambda doing: doing) as bar:
        yield lambda n, doing=None: bar.update(n, doing)
