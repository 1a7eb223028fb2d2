"""Deterministic small hard cases for the store tests (no generator needed)."""

import numpy as np

# the fields of miner.RECORD_DTYPE the bank reads, plus two it ignores
RECORDS = np.dtype([("label", "u1"), ("jitter", "f4"), ("brush", "f4"), ("variant", "u2"), ("seed", "u8"),
                    ("index", "u8"), ("version", "u2"), ("ink_out", "f4"), ("ink", "f4")])


def cases(n: int, seed: int) -> dict:
    """n cases whose every field is a function of (n, seed)."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 10, n).astype(np.uint8)
    probs = rng.dirichlet(np.ones(10), n).astype(np.float32)
    records = np.zeros(n, RECORDS)
    records["label"] = true
    records["jitter"] = rng.uniform(0, 5, n)
    records["brush"] = rng.uniform(1, 3, n)
    records["variant"] = rng.integers(0, 8, n)
    records["seed"] = seed
    records["index"] = np.arange(n) + 1000
    records["version"] = 1
    return dict(images=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), true=true,
                pred=((true + 1 + rng.integers(0, 9, n)) % 10).astype(np.int64), probs=probs, params=records)


def append(bank, n: int, seed: int, round: int = 1, key: str | None = None, status=None):
    c = cases(n, seed)
    return bank.append(c["images"], c["true"], c["pred"], c["probs"], c["params"], round=round,
                       model_id=f"model-{round}", source="synthetic", key=key or f"k{seed}", status=status)
