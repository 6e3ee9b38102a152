import importlib
import sys
import types

import torch

import gan_utils


def test_two_seeded_runs_give_identical_tensors():
    gan_utils.seed_everything(7)
    a = (torch.randn(5), torch.nn.Linear(3, 3).weight.clone())
    gan_utils.seed_everything(7)
    b = (torch.randn(5), torch.nn.Linear(3, 3).weight.clone())
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_device_order_on_cpu_machine():
    dev = gan_utils.get_device()
    if torch.cuda.is_available():
        assert dev.type == "cuda"
    else:
        assert dev.type in ("mps", "cpu")


def test_smoke_flag_reads_the_environment(monkeypatch):
    import gan_utils.runtime as rt
    monkeypatch.setenv("GAN_COURSE_SMOKE", "1")
    assert importlib.reload(rt).SMOKE is True
    monkeypatch.setenv("GAN_COURSE_SMOKE", "0")
    assert importlib.reload(rt).SMOKE is False
    importlib.reload(rt)


def test_in_colab_sees_a_stub_module(monkeypatch):
    assert gan_utils.in_colab() is False
    google = types.ModuleType("google")
    colab = types.ModuleType("google.colab")
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    assert gan_utils.in_colab() is True
