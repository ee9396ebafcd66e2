"""Shared fixtures. Torch and OpenMP get one thread: two cores are shared by everything here."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
