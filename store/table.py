"""The bank as a pandas DataFrame: one row per case, every field but the pixels.

    python -c "from store import Bank; print(Bank.open('bank.h5').table())"

Per-append fields (key, round, model id, source, time) are joined in from the
main file's appends table; ``p_true``/``p_pred`` are the probabilities of the
true and the predicted class (NaN for imported cases without probabilities).
``status`` is the review status (``store.review``) and ``label`` the effective
label: the relabel of a relabelled case, else ``true``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from store.review import NAMES, effective_labels
from store.schema import COLUMNS, N_CLASSES, PARAM_FIELDS
from store.shards import Snapshot

# DataFrame column order; p0..p9 follow
ORDER = ["id", "true", "pred", "status", "label", "p_true", "p_pred", "round", "model_id", "source", "time", "key", *PARAM_FIELDS]


def build_table(snap: Snapshot) -> pd.DataFrame:
    names = [n for n in COLUMNS if n not in ("image", "crc")]
    cols = {n: snap.column(n) for n in names}  # ~100 bytes per case, no pixels
    n = len(cols["id"])
    probs, append = cols.pop("probs"), cols.pop("append").astype(np.int64)
    rows = np.arange(n)
    pred = cols["pred"].astype(np.int64)
    cols["p_true"] = probs[rows, cols["true"]] if n else np.zeros(0, np.float32)
    cols["p_pred"] = np.where(pred >= 0, probs[rows, np.clip(pred, 0, None)], np.nan).astype(np.float32)
    codes, relabels = snap.manifest.marks().lookup(cols["id"])
    cols["status"] = np.asarray(NAMES, dtype=object)[codes]
    cols["label"] = effective_labels(cols["true"], relabels)
    appends = snap.manifest.appends
    for name in ("round", "model_id", "source", "key"):
        cols[name] = np.asarray(appends[name])[append] if n else np.zeros(0, appends[name].dtype)
    cols["time"] = pd.to_datetime(appends["time"][append] if n else np.zeros(0), unit="s", utc=True)
    df = pd.DataFrame({k: cols[k] for k in ORDER})
    for c in range(N_CLASSES):
        df[f"p{c}"] = probs[:, c] if n else np.zeros(0, np.float32)
    return df
