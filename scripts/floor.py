#!/usr/bin/env python3
"""Prove pyproject.toml's lower bounds: install the *lowest* declared version of every runtime
dependency in a separate virtual environment and run the unit tests there (``make test-floor``).

The floors are read from ``[project] dependencies`` (every entry must be ``name>=X``) and pinned
``name==X``; nothing is typed twice. Two modes:

    python scripts/floor.py                 # floors of everything but torch/torchvision, which the
                                            # venv reuses from this Python (--system-site-packages):
                                            # small downloads, run by CI (.ci/run)
    python scripts/floor.py --torch-floor   # also torch/torchvision at their floors, in an isolated
                                            # venv: ~2.6 GB of CUDA wheels from PyPI, ~6 GB on disk

The venv lives in ``build/floor-venv`` (or ``build/floor-venv-torch``), outside git; the main
environment is never touched. The script checks that pip really installed the floor versions
before it runs the tests, so a resolver that silently picks a newer release cannot pass.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH = {"torch", "torchvision"}
#: What the unit tests need besides gan_utils' own dependencies (any version that installs).
TEST_TOOLS = ["pytest>=7.4", "nbformat>=5.9", "packaging"]
#: The unit tests, less the two that only re-check a 2048-d matrix square root (minutes on 2 cores).
DEFAULT_PYTEST = ["tests", "-q", "-m", "not slow"]


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def floors() -> dict[str, str]:
    """``{name: lowest version}`` from pyproject's runtime dependencies; every one must have one."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    out = {}
    for req in deps:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*(,\s*<[^;]*)?", req)
        if not m:
            raise SystemExit(f"pyproject.toml: dependency {req!r} has no plain lower bound 'name>=X'")
        out[_name(m.group(1))] = m.group(2)
    return out


def pins(torch_floor: bool) -> list[str]:
    return [f"{n}=={v}" for n, v in floors().items() if torch_floor or n not in TORCH]


def _module(dist: str) -> str:
    """The import name of a distribution (pytorch-fid -> pytorch_fid)."""
    return dist.replace("-", "_")


def run(cmd, **kw):
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run(cmd, check=True, **kw)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--torch-floor", action="store_true",
                    help="install torch/torchvision at their floors too (isolated venv, ~2.6 GB download)")
    ap.add_argument("--venv", type=Path, help="where to build the venv (default build/floor-venv[-torch])")
    ap.add_argument("--print", action="store_true", help="only print the pins")
    ap.add_argument("pytest_args", nargs="*", help="passed to pytest (default: tests -q -m 'not slow')")
    args = ap.parse_args(argv)
    wanted = pins(args.torch_floor)
    if args.print:
        print("\n".join(wanted))
        return 0
    venv = args.venv or ROOT / "build" / ("floor-venv-torch" if args.torch_floor else "floor-venv")
    t0 = time.time()
    if not (venv / "bin" / "python").exists():
        run([sys.executable, "-m", "venv", *([] if args.torch_floor else ["--system-site-packages"]), str(venv)])
    py = str(venv / "bin" / "python")
    req = venv / "floor-requirements.txt"
    req.write_text("\n".join(wanted + TEST_TOOLS) + "\n")
    # The machine-wide pip constraints (if any) cap torch from above; floors are far below them.
    run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(req)])
    t_install = time.time() - t0
    check = ("import importlib.metadata as m, sys\n"
             "from packaging.version import Version\n"
             f"want = {dict(p.split('==') for p in wanted)!r}\n"
             "got = {n: m.version(n) for n in want}\n"
             "bad = {n: (v, got[n]) for n, v in want.items() if Version(got[n]) != Version(v)}\n"
             "print('installed:', ', '.join(f'{n} {v}' for n, v in got.items()))\n"
             "import torch, torchvision; print('torch', torch.__version__, '| torchvision', torchvision.__version__)\n"
             "if bad: sys.exit(f'not the floor versions (wanted, got): {bad}')\n"
             # every floor must also import: a test that skips on ImportError would hide a broken floor
             # (ipywidgets 7.6.0 installs fine and then fails to import beside today's traitlets)
             "import importlib\n"
             f"for mod in {[_module(p.split('==')[0]) for p in wanted]!r}: importlib.import_module(mod)\n"
             "print('all floors import')\n")
    run([py, "-c", check])
    env = dict(os.environ, GAN_COURSE_SMOKE="1", OMP_WAIT_POLICY="PASSIVE", PYTHONNOUSERSITE="1")
    if not args.torch_floor:   # nbconvert's templates etc. of the reused packages live under the base prefix
        env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(Path(sys.base_prefix) / "share" / "jupyter"),
                                                            os.environ.get("JUPYTER_PATH")]))
    env.pop("PYTHONPATH", None)
    t1 = time.time()
    # gan_utils from this checkout (the repository root is on sys.path with `python -m pytest`), not installed
    rc = subprocess.run([py, "-m", "pytest", "-p", "no:cacheprovider", *(args.pytest_args or DEFAULT_PYTEST)],
                        cwd=ROOT, env=env).returncode
    print(f"floor test: venv + install {t_install:.0f} s, tests {time.time() - t1:.0f} s, exit {rc}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
