"""Runtime helpers every notebook's setup cell uses (taught in notebooks/00_setup.ipynb): device,
seeding, the smoke switch; and the one home of the small things the whole package shares: the
``UserError`` base class, ``env_flag``, the cache folder and ``atomic_write``.
"""
from __future__ import annotations

import contextlib
import errno
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Callable, Union

import numpy as np
import torch


class UserError(Exception):
    """Base class of the errors a user can cause and fix (a bad option, missing data, an unusable
    checkpoint...): the CLI prints their message in one line and exits with status 2; anything else
    is a bug and keeps its traceback. Subclasses also derive from ValueError/RuntimeError/OSError
    where older code catches those."""


class ConfigError(UserError, ValueError):
    """An option that does not exist or has the wrong type or value; the message names it."""


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def env_flag(name: str, default=False):
    """The yes/no value of the environment variable ``name``: 1/true/yes/on (any case) and any
    non-zero number are True; 0/false/no/off are False; unset or empty gives ``default``. Anything
    else raises :class:`UserError` (a typo must not silently mean "no")."""
    raw = os.environ.get(name, "")
    v = raw.strip().lower()
    if not v:
        return default
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    try:
        return float(v) != 0.0
    except ValueError:
        raise UserError(f"{name}={raw!r} is not a yes/no value: use 1 or 0") from None


def __getattr__(name: str):
    """``SMOKE``: True when ``GAN_COURSE_SMOKE=1`` (notebooks shrink sizes and step counts for CI).
    Read when asked for, not at import, so a bad value is one clear error where it is used (a
    notebook's parameters cell) and never a traceback while ``gan_utils`` is being imported."""
    if name == "SMOKE":
        return env_flag("GAN_COURSE_SMOKE")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: the seeds the course accepts: numpy's range, which seed_everything also feeds
SEED_MAX = 2**32 - 1


def check_seed(seed, name: str = "seed") -> int:
    """``seed`` if it is a whole number from 0 to 2**32 - 1, else :class:`ConfigError` saying so
    (a larger one overflows torch's generators and the loader's per-epoch seed)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise ConfigError(f"{name}={seed!r} must be a whole number from 0 to {SEED_MAX} (2**32 - 1)")
    return seed


@contextlib.contextmanager
def temporary_env(**values: str):
    """Set environment variables inside a ``with`` block and restore them (unset ones removed) after:
    used where a notebook kernel must inherit a mode (scripts/measure_runtimes.py, scripts/build_site.py)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def cache_dir(sub: str = "") -> Path:
    """``$GAN_COURSE_CACHE`` or ``~/.cache/gan_course``, with ``sub`` appended: where FID statistics
    (``stats``), trained classifier weights (``weights``) and downloads go. On Colab, point
    ``GAN_COURSE_CACHE`` at Drive so they survive a disconnect (notebook 08)."""
    env = os.environ.get("GAN_COURSE_CACHE")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "gan_course"
    return base / sub if sub else base


def atomic_write(path, content: Union[bytes, str, Callable]) -> Path:
    """Write ``content`` (bytes, text, or a function that writes to a binary file object, e.g.
    ``lambda f: torch.save(obj, f)``) to a temporary file beside ``path``, flush it to disk, then
    rename it over ``path``: a crash, a kill or a full disk never leaves a truncated ``path``.
    The temporary file is ``<name>.<random>.tmp`` (see :func:`remove_stale_temp_files`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode() if isinstance(content, str) else content)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp makes 0600: give the file the permissions open() would
        os.replace(tmp, path)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(f"no space left on {path.parent} while writing {path.name}; the previous "
                                f"{path.name} (if any) is kept. Free some space and run again.") from None
        raise
    except RuntimeError as e:  # torch.save reports a full disk as a RuntimeError from its writer
        if "unexpected pos" in str(e) or "No space left" in str(e):
            raise DiskFullError(f"no space left on {path.parent} while writing {path.name}; the previous "
                                f"{path.name} (if any) is kept. Free some space and run again.") from None
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


class DiskFullError(UserError, OSError):
    """The disk filled up during a write; the old file is kept."""


def remove_stale_temp_files(folder, name: str) -> list:
    """Delete ``<name>.*.tmp`` files in ``folder`` that a killed writer left behind (an
    :func:`atomic_write` interrupted by SIGKILL cannot clean up after itself)."""
    removed = []
    for p in Path(folder).glob(f"{name}.*.tmp"):
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


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
    """Pick the best available device: cuda > mps > cpu (``prefer`` forces one, e.g. "cpu"; a
    device that does not exist here raises :class:`UserError`)."""
    if prefer is not None:
        try:
            dev = torch.device(prefer)
        except (RuntimeError, TypeError):
            raise UserError(f"unknown device {prefer!r}: use cuda, cuda:N, mps or cpu") from None
        mps = getattr(torch.backends, "mps", None)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"device {prefer!r} asked for, but this torch sees no CUDA GPU "
                            f"(torch {torch.__version__}); leave the device unset to use the best available one")
        if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"device {prefer!r}: there are only {torch.cuda.device_count()} CUDA device(s)")
        if dev.type == "mps" and not (mps is not None and mps.is_available()):
            raise UserError(f"device {prefer!r} asked for, but MPS (Apple GPU) is not available here")
        if dev.type not in ("cpu", "cuda", "mps"):
            raise UserError(f"device {prefer!r} is not supported by the course: use cuda, mps or cpu")
        return dev
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


def checkpoint_dir(name: str = "") -> Path:
    """Where notebooks keep checkpoints so later notebooks find them (04 -> 06 -> 08).

    ``$GAN_COURSE_CHECKPOINTS`` if set (e.g. a mounted Google Drive folder on Colab), else
    ``checkpoints/`` at the course repository's root, else ``~/gan_course/checkpoints``. Smoke runs
    write to a ``smoke/`` sub-folder so a tiny CI model is never mistaken for a trained one.
    """
    env = os.environ.get("GAN_COURSE_CHECKPOINTS")
    if env:
        base = Path(env).expanduser()
    else:
        repo = Path(__file__).resolve().parents[1]
        base = repo / "checkpoints" if (repo / "notebooks").is_dir() else Path.home() / "gan_course" / "checkpoints"
    if env_flag("GAN_COURSE_SMOKE"):
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
        "smoke": env_flag("GAN_COURSE_SMOKE"),
        "colab": in_colab(),
    }
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def ensure_writable_dir(path, what: str = "output folder") -> Path:
    """Create ``path`` (with parents) if needed and check that files can be written in it; any
    problem (a file in the way, a read-only disk, no permission) raises one :class:`UserError`
    naming the folder (and ``$GAN_COURSE_CHECKPOINTS`` when the folder comes from it)."""
    path = Path(path).expanduser()
    env = os.environ.get("GAN_COURSE_CHECKPOINTS")
    origin = ""
    if env:
        try:
            path.resolve().relative_to(Path(env).expanduser().resolve())
            origin = f" (it comes from GAN_COURSE_CHECKPOINTS={env}; point that variable at a writable folder)"
        except ValueError:
            pass
    if path.exists() and not path.is_dir():
        raise UserError(f"the {what} {path} is a file, not a folder{origin}: choose another path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=path)
        os.close(fd)
        os.remove(probe)
    except (FileExistsError, NotADirectoryError):
        raise UserError(f"the {what} {path} cannot be created: a part of that path is a file{origin}") from None
    except OSError as e:
        raise UserError(f"the {what} {path} is not writable ({e.strerror or e}){origin}") from None
    return path


def available_memory():
    """Bytes of memory available now (Linux: ``MemAvailable``), or None where it cannot be read:
    used to refuse a request that would get the process killed instead of an error message."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
