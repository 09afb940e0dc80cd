"""One check, one core: imported first, before NumPy loads its BLAS.

The checks multiply small matrices, where BLAS threads gain nothing and, in a service running
a check process per core, spin against each other: under 20 concurrent clients p95 was 2.9 s
with the default threads and 136 ms with one (when the sentence encoder ran on NumPy; ONNX
Runtime, which runs it now, is given one thread in ``detectors/encoder.py``). A deployment
that wants otherwise sets OPENBLAS_NUM_THREADS (or OMP_ / MKL_) itself; this only fills in a
default.
"""

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
