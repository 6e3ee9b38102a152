import os

import pytest
import torch

# Tests never download: the offline data path is what CI has.
os.environ.setdefault("GAN_COURSE_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
