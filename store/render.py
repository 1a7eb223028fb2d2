"""Human views of a bank: the summary, case listings, a digit drawn in the
terminal, and the montage of cases captioned like the notebook's plots.

    hardmine bank summary bank.h5; hardmine bank show bank.h5 0

Everything here takes the DataFrame of ``Bank.table()`` (plus pixels where
needed) and returns text or writes a PNG; nothing here opens a bank.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from store.review import NAMES, STATUSES

SHADES = " ░▒▓█"  # 5 levels of ink, dark to light; each pixel is drawn 2 characters wide
LIST_COLUMNS = ("id", "true", "pred", "p_pred", "p_true", "round", "jitter", "source", "status", "label")
SORTS = {  # --sort name -> (columns, ascending): most confidently wrong first for "confidence"
    "confidence": (["p_pred", "id"], [False, True]),
    "round": (["round", "id"], [True, True]),
    "id": (["id"], [True]),
}


def _num(v, fmt: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _pred(v) -> str:
    return "?" if int(v) < 0 else str(int(v))


def _iso(t) -> str:
    return pd.Timestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().sort_index().items()}


def summary(df: pd.DataFrame, info: dict) -> dict:
    """Counts for ``hardmine bank summary``; ``info`` has path/schema/created/created_by/shards/bytes."""
    conf = np.zeros((10, 11), int)  # true x (pred 0..9, unknown)
    np.add.at(conf, (df["true"].to_numpy(int), np.where(df["pred"] < 0, 10, df["pred"]).astype(int)), 1)
    by_status = {name: int((df["status"] == name).sum()) for name in NAMES}
    return {
        **info, "cases": len(df), "by_source": _counts(df["source"]), "by_status": by_status,
        "trainable": sum(n for name, n in by_status.items() if STATUSES[name].trainable),
        "by_true": {str(d): int((df["true"] == d).sum()) for d in range(10)},
        "by_pred": {_pred(d): int((df["pred"] == d).sum()) for d in [*range(10), -1] if d >= 0 or (df["pred"] < 0).any()},
        "by_round": _counts(df["round"]),
        # jitter in whole-pixel bins [k, k+1); imported cases have none
        "by_jitter": _counts(np.floor(df["jitter"].dropna()).astype(int))
        | ({"n/a": int(df["jitter"].isna().sum())} if df["jitter"].isna().any() else {}),
        "confusion": conf.tolist(),
    }


def summary_text(s: dict) -> str:
    def counts(d: dict) -> str:
        return " ".join(f"{k}:{v}" for k, v in d.items()) or "-"

    jitter = " ".join(f"[{k},{int(k) + 1}):{v}" if k != "n/a" else f"n/a:{v}" for k, v in s["by_jitter"].items())
    lines = [
        f"bank {s['path']}: schema {s['schema']}, created {s['created']} by {s['created_by']}",
        f"cases: {s['cases']}" + (f" of {s['total']}, passing the filters" if s.get("filtered") else "")
        + f" ({', '.join(f'{k} {v}' for k, v in s['by_source'].items()) or 'empty'}) "
        f"in {s['shards']} shards, {s['bytes']} bytes on disk",
        f"by status:     {counts(s['by_status'])} (trainable: {s['trainable']})",
        f"by true label: {counts(s['by_true'])}",
        f"by predicted:  {counts(s['by_pred'])}",
        f"by round:      {counts(s['by_round'])}",
        f"by jitter:     {jitter or '-'}",
        "confusion (rows: true, columns: predicted, ?: unknown):",
        "     " + "".join(f"{c:>5}" for c in [*range(10), "?"]),
    ]
    lines += [f"{t:>5}" + "".join(f"{v or '.':>5}" for v in row) for t, row in enumerate(s["confusion"])]
    return "\n".join(lines)


def select(df: pd.DataFrame, label=None, pred=None, round=None, min_jitter=None, max_jitter=None,
           status=None, sort: str = "id", limit: int | None = None) -> pd.DataFrame:
    """The rows of ``df`` passing the CLI filters, sorted, at most ``limit``;
    ``label`` is the effective label, ``status`` a collection of status names."""
    keep = pd.Series(True, index=df.index)
    for column, value in (("label", label), ("pred", pred), ("round", round)):
        if value is not None:
            keep &= df[column] == value
    if status is not None:
        keep &= df["status"].isin(list(status))
    if min_jitter is not None:
        keep &= df["jitter"] >= min_jitter
    if max_jitter is not None:
        keep &= df["jitter"] <= max_jitter
    columns, ascending = SORTS[sort]
    out = df[keep].sort_values(columns, ascending=ascending, na_position="last", kind="stable")
    return out if limit is None else out.head(limit)


def listing(df: pd.DataFrame) -> str:
    head = (f"{'id':>8} {'true':>4} {'pred':>4} {'p_pred':>6} {'p_true':>6} {'round':>5} {'jitter':>6} "
            f"{'source':<9} {'status':<10} label")
    rows = [
        f"{r.id:>8} {r.true:>4} {_pred(r.pred):>4} {_num(r.p_pred, '.3f'):>6} {_num(r.p_true, '.3f'):>6} "
        f"{r.round:>5} {_num(r.jitter, '.2f'):>6} {r.source:<9} {r.status:<10} {r.label}"
        for r in df.itertuples()
    ]
    return "\n".join([head, *rows])


def digit_art(image: np.ndarray) -> str:
    """28 lines of shade characters: the digit as it looks, ink light on dark."""
    levels = (image.astype(np.int64) * len(SHADES)) // 256  # 0..4
    return "\n".join("".join(SHADES[v] * 2 for v in row) for row in levels)


def case_text(row, image: np.ndarray) -> str:
    probs = " ".join(f"{c}:{_num(getattr(row, f'p{c}'), '.2f')}" for c in range(10))
    return "\n".join([
        f"case {row.id}: round {row.round}, model {row.model_id}, {row.source}, {_iso(row.time)}, key {row.key}",
        f"true {row.true} -> predicted {_pred(row.pred)} (p={_num(row.p_pred, '.3f')}, p(true)={_num(row.p_true, '.3f')})",
        f"review: {row.status}, " + (f"trained on as {row.label}" if STATUSES[row.status].trainable
                                      else "not trained on"),
        f"generator: jitter {_num(row.jitter, '.3f')} brush {_num(row.brush, '.3f')} variant 0x{row.variant:04x} "
        f"seed {row.seed} index {row.index} version {row.version}",
        f"probabilities: {probs}",
        digit_art(image),
    ])


def caption(row) -> str:
    """"true -> predicted (probability)", and a second line naming a review status other than ok."""
    status = "" if row.status == "ok" else f"\n{row.status}" + (f" {row.label}" if row.label != row.true else "")
    return f"{row.true} -> {_pred(row.pred)} ({_num(row.p_pred, '.2f')}){status}"


def save_png(image: np.ndarray, path: str, scale: int = 8) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.imsave(path, np.kron(image, np.ones((scale, scale), np.uint8)), cmap="gray", vmin=0, vmax=255)


def montage(df: pd.DataFrame, images: np.ndarray, path: str, cols: int = 8) -> None:
    """A grid of ``images`` captioned "true -> predicted (probability)"."""
    from miner.montage import save_grid

    save_grid(images, [caption(row) for row in df.itertuples()], path, cols, cell=(1.5, 1.9))
