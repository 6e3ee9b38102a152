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


def test_smoke_flag_reads_the_environment():
    # in a fresh interpreter each: reloading gan_utils.runtime here would give it new exception
    # classes that the other modules' `except UserError` no longer catch (it broke later tests)
    import os
    import subprocess

    def smoke(value):
        env = {**os.environ, "GAN_COURSE_SMOKE": value}
        out = subprocess.run([sys.executable, "-c", "import gan_utils.runtime as rt; print(rt.SMOKE)"],
                             capture_output=True, text=True, env=env, check=True)
        return out.stdout.strip()

    assert smoke("1") == "True" and smoke("0") == "False"


def test_in_colab_sees_a_stub_module(monkeypatch):
    assert gan_utils.in_colab() is False
    google = types.ModuleType("google")
    colab = types.ModuleType("google.colab")
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    assert gan_utils.in_colab() is True


def test_atomic_write_gives_the_file_the_permissions_open_would_not_mkstemps_0600(tmp_path):
    # guards against: checkpoints and weights written through a temporary file that other users (a
    # shared course folder, a web server for the site) cannot read, because mkstemp creates it 0600
    import os
    import stat

    from gan_utils.runtime import atomic_write

    old = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "w.bin", b"x")
        plain = tmp_path / "plain.bin"
        plain.write_bytes(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o644
