import os

# Idle OpenMP threads sleep instead of spinning: on a 2-core machine shared with a notebook kernel
# or scipy's BLAS, spinning threads slow everything several-fold. Set before torch is imported, and
# inherited by the nbval kernels this process starts.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest
import torch

# Tests never download: the offline data path is what CI has.
os.environ.setdefault("GAN_COURSE_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
