"""PNG plots of a model's scores: confusion matrix, learning curves, accuracy per jitter.

    hardmine evaluate seed.keras --plots plots/      # writes the three PNGs

Drawn on bare ``matplotlib.figure.Figure`` objects (the Agg canvas; no pyplot
state, no display needed), one function per plot, each returning the path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

DPI = 100  # 5x4.5 inch figures -> 500x450 px PNGs, a few tens of kB


def _save(fig: Figure, path: str | os.PathLike) -> str:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return str(path)


def confusion_png(cm: Sequence[Sequence[int]], path: str | os.PathLike, title: str = "MNIST test") -> str:
    """10x10 counts (row = truth, column = prediction), diagonal greyed out so errors stand out."""
    cm = np.asarray(cm)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    fig = Figure(figsize=(5, 4.5))
    ax = fig.subplots()
    ax.imshow(off, cmap="Reds")
    for (i, j), n in np.ndenumerate(cm):
        ax.text(j, i, str(n), ha="center", va="center", fontsize=6, color="grey" if i == j else "black")
    ax.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true",
           title=f"{title}: {int(off.sum())} errors of {int(cm.sum())}")
    return _save(fig, path)


def curves_png(history: Mapping[str, Sequence[float]], path: str | os.PathLike) -> str:
    """Loss and accuracy per epoch, training vs validation (the notebook's two panels)."""
    fig = Figure(figsize=(9, 3.5))
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, colour in (("", "tab:blue"), ("val_", "tab:red")):
            values = history.get(prefix + metric, [])
            ax.plot(range(1, len(values) + 1), values, color=colour, marker=".",
                    label=f"{'validation' if prefix else 'training'} {metric}")
        ax.set(xlabel="epoch", title=metric)
        ax.legend()
    return _save(fig, path)


def jitter_png(jitter_acc: Mapping[str, float], path: str | os.PathLike) -> str:
    """Accuracy on the fixed synthetic set against jitter radius (pixels)."""
    radii = [float(k) for k in jitter_acc]
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    ax.plot(radii, list(jitter_acc.values()), marker="o")
    ax.set(xlabel="jitter radius (pixels)", ylabel="accuracy", ylim=(0, 1.01),
           title="synthetic evaluation set")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def robustness_png(scores: Mapping, path: str | os.PathLike) -> str:
    """The real-digit robustness suite as a heat map: accuracy per (variant, class),
    with each variant's accuracy and the per-class means at the margins."""
    matrix = np.array([[np.nan if a is None else a for a in row] for row in scores["matrix"]], float)
    names = list(scores["per_variant"])
    table = np.column_stack([matrix, list(scores["per_variant"].values())])  # (V, 11)
    per_class = [np.nan if a is None else a for a in scores["per_class"].values()]
    table = np.vstack([table, per_class + [scores["mean"]]])  # (V + 1, 11)
    fig = Figure(figsize=(7, 0.32 * len(table) + 1.4))
    ax = fig.subplots()
    ax.imshow(table, cmap="RdYlGn", vmin=0.5, vmax=1.0, aspect="auto")
    for (i, j), a in np.ndenumerate(table):
        if not np.isnan(a):
            ax.text(j, i, f"{a:.2f}"[1:] if a < 1 else "1", ha="center", va="center", fontsize=6)
    ax.set(xticks=range(11), xticklabels=[str(d) for d in range(10)] + ["all"],
           yticks=range(len(table)), yticklabels=names + ["mean"], xlabel="true digit",
           title=f"real-digit robustness ({scores['split']}, {scores['n']} digits per variant): "
                 f"mean {scores['mean']:.3f}")
    ax.tick_params(labelsize=7)
    return _save(fig, path)


def score_pngs(scores: Mapping, history: Path, path: Callable[[str], Path]) -> list[str]:
    """Every picture of one evaluation (``model.evaluate.evaluate``'s scores), for
    ``hardmine evaluate`` and each flow round alike: the confusion matrix, accuracy per
    jitter and the robustness suite when they were scored, and the learning curves when
    ``history`` (the model's ``<stem>.history.json``) exists; ``path(name)`` is where the
    picture ``name`` goes. Returns the paths written."""
    written = [confusion_png(scores["confusion"], path("confusion"), title=f"MNIST {scores['class_split']}")]
    if "jitter_acc" in scores:
        written.append(jitter_png(scores["jitter_acc"], path("jitter")))
    if "robustness" in scores:
        written.append(robustness_png(scores["robustness"], path("robustness")))
    if history.is_file():  # a model from elsewhere (an init_model) may have none
        written.append(curves_png(json.loads(history.read_text())["history"], path("curves")))
    return written
