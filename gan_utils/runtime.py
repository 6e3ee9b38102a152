"""Runtime helpers every notebook's setup cell uses (taught in notebooks/00_setup.ipynb)."""
from __future__ import annotations

import os
import random
import sys

import numpy as np
import torch


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


#: True when ``GAN_COURSE_SMOKE=1``: notebooks shrink sizes and step counts for CI.
SMOKE: bool = _env_flag("GAN_COURSE_SMOKE")


def in_colab() -> bool:
    """True when running inside Google Colab (its ``google.colab`` module is importable/loaded)."""
    if "google.colab" in sys.modules:
        return True
    try:
        import importlib.util

        return importlib.util.find_spec("google.colab") is not None
    except (ImportError, ValueError):
        return False


def get_device(prefer: str | None = None) -> torch.device:
    """Pick the best available device: cuda > mps > cpu (``prefer`` forces one, e.g. "cpu")."""
    if prefer is not None:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> int:
    """Seed python, numpy and torch (CPU and every CUDA device) so seeded CPU runs repeat exactly."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds all CUDA devices
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return seed


def checkpoint_dir(name: str = "") -> "Path":
    """Where notebooks keep checkpoints so later notebooks find them (04 -> 06 -> 08).

    ``$GAN_COURSE_CHECKPOINTS`` if set (e.g. a mounted Google Drive folder on Colab), else
    ``checkpoints/`` at the course repository's root, else ``~/gan_course/checkpoints``. Smoke runs
    write to a ``smoke/`` sub-folder so a tiny CI model is never mistaken for a trained one.
    """
    from pathlib import Path

    env = os.environ.get("GAN_COURSE_CHECKPOINTS")
    if env:
        base = Path(env).expanduser()
    else:
        repo = Path(__file__).resolve().parents[1]
        base = repo / "checkpoints" if (repo / "notebooks").is_dir() else Path.home() / "gan_course" / "checkpoints"
    if _env_flag("GAN_COURSE_SMOKE"):
        base = base / "smoke"
    return base / name if name else base


def describe_environment() -> dict:
    """Versions and hardware, as printed by notebook 00 and the end of notebook 08."""
    import platform

    import torchvision

    dev = get_device()
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "device": str(dev),
        "cpu_threads": torch.get_num_threads(),
        "smoke": SMOKE,
        "colab": in_colab(),
    }
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
