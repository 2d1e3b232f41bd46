"""The test suite (its package is imported before conftest.py and any test module)."""

import os

# One BLAS/OpenMP thread per test process: the test processes already use every core, and
# OpenBLAS's spinning threads tripled the CPU time of the crisis model's trainings (one fit:
# 24.7 s of CPU with 2 threads, 7.9 s with 1). Set before numpy is first imported, to count.
for _pool in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_pool, "1")
