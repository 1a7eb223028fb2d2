"""store: the HDF5 hard-case bank (see docs/store.md).

    from store import Bank, stream_batches, check_bank

Importing this package imports h5py and numpy only (no TensorFlow, no numba,
no pandas until ``Bank.table()`` is called).
"""

from store.bank import Bank, BankConfig
from store.layout import check_bank
from store.retention import POLICIES
from store.schema import SCHEMA_VERSION
from store.stream import StreamConfig, stream_batches
from store.verify import verify_bank

__all__ = ["Bank", "BankConfig", "check_bank", "POLICIES", "SCHEMA_VERSION", "StreamConfig", "stream_batches",
           "verify_bank"]
