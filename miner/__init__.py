"""miner: the synthetic handwriting generator of hardmine (see docs/miner.md).

    from miner import generate, regenerate, eval_set, is_valid, RECORD_DTYPE, GENERATOR_VERSION

Importing this package is cheap: NumPy only; numba compiles (or loads its cache)
on the first draw, and TensorFlow is never imported here.
"""

from miner.generator import (
    GENERATOR_VERSION,
    RECORD_DTYPE,
    GeneratorConfig,
    eval_set,
    generate,
    is_valid,
    regenerate,
)

__all__ = ["GENERATOR_VERSION", "RECORD_DTYPE", "GeneratorConfig", "eval_set", "generate", "is_valid", "regenerate"]
