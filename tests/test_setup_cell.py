"""The setup cell every notebook starts with (written by scripts/sync_notebooks.py): OpenMP threads
that sleep, and a Colab install that keeps Colab's own torch, numpy and ipywidgets."""
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import sync_notebooks  # noqa: E402

COLAB_PACKAGES = {"torch", "torchvision", "numpy", "scipy", "matplotlib", "ipywidgets", "tqdm",
                  "widgetsnbextension", "jupyterlab-widgets", "ipython", "ipykernel", "pillow"}


def _name(req):
    return re.split(r"[<>=!~ ;\[@]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _run_setup_cell_on_a_simulated_colab(monkeypatch, missing=()):
    """Execute the setup cell with a stub google.colab, gan_utils not importable and the
    distributions in ``missing`` not installed; return the pip commands it would run."""
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda cmd, *a, **k: calls.append(list(cmd)) or 0)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    real_find_spec, real_version = importlib.util.find_spec, importlib.metadata.version
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "gan_utils" else real_find_spec(name, *a, **k))

    def version(dist):
        if dist.lower().replace("_", "-") in missing:
            raise importlib.metadata.PackageNotFoundError(dist)
        return real_version(dist)

    monkeypatch.setattr(importlib.metadata, "version", version)
    ns = {}
    exec(sync_notebooks.setup_cell_source(), ns)
    return calls, ns


def test_setup_cell_sets_passive_openmp_before_importing_torch(monkeypatch):
    # guards against: busy-waiting OpenMP threads (a DCGAN step 3x slower on a loaded 2-core CPU);
    # the variable is read once, when torch loads its OpenMP runtime
    src = sync_notebooks.setup_cell_source()
    first_import = re.search(r"^import torch$", src, flags=re.M).start()
    assert src.index('os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")') < first_import
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(src, {})
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    exec(src, {})
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE", "a learner's own choice must be kept"


def test_setup_cell_installs_nothing_locally(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda cmd, *a, **k: calls.append(cmd) or 0)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(sync_notebooks.setup_cell_source(), {})
    assert calls == []


def test_on_colab_gan_utils_is_installed_without_deps_and_then_only_what_colab_lacks(monkeypatch):
    # guards against: `pip install gan_utils` upgrading Colab's ipywidgets 7.7.1 to 8.x under a
    # running kernel (broken widgets and tqdm bars), or replacing Colab's torch
    calls, ns = _run_setup_cell_on_a_simulated_colab(monkeypatch, missing={"pytorch-fid"})
    repo, ref = sync_notebooks.course_slug()
    assert len(calls) == 2
    first, second = calls
    assert first[1:4] == ["-m", "pip", "install"] and "--no-deps" in first
    assert f"gan_utils @ git+https://github.com/{repo}@{ref}" in first
    assert [a for a in second[4:] if not a.startswith("-")] == ["pytorch-fid>=0.3"]
    for cmd in calls:
        assert not {"-U", "--upgrade", "--force-reinstall"} & set(cmd)
        named = {_name(a) for a in cmd[4:] if not a.startswith("-")}
        assert not named & COLAB_PACKAGES, f"the setup cell would reinstall Colab's {named & COLAB_PACKAGES}"
    assert ns["device"].type in ("cpu", "cuda", "mps")


def test_on_colab_with_everything_present_only_gan_utils_is_installed(monkeypatch):
    calls, _ = _run_setup_cell_on_a_simulated_colab(monkeypatch)
    assert len(calls) == 1 and "--no-deps" in calls[0]


def test_setup_cell_installs_pyprojects_requirements_when_none_is_there(monkeypatch):
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover
        import tomli as tomllib
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    calls, _ = _run_setup_cell_on_a_simulated_colab(monkeypatch, missing={_name(d) for d in deps})
    assert [a for a in calls[1][4:] if not a.startswith("-")] == deps


def test_declared_ipywidgets_floor_admits_colabs_7_7_1():
    from packaging.requirements import Requirement

    deps = {Requirement(r).name: Requirement(r) for r in sync_notebooks.requirements()}
    assert deps["ipywidgets"].specifier.contains("7.7.1")


@pytest.fixture(scope="module")
def colab_like_venv(tmp_path_factory):
    """A venv with Colab's ipywidgets 7.7.1 on top of this Python's packages (torch, numpy...)."""
    # asks the package index for ipywidgets 7.7.1 (as `make test`'s own install does)
    venv = tmp_path_factory.mktemp("colab") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "ipywidgets==7.7.1"],
                   check=True, capture_output=True, text=True)
    return py


def _dry_run(py, cmd, tmp_path):
    report = tmp_path / f"report{len(list(tmp_path.iterdir()))}.json"
    r = subprocess.run([py, *cmd, "--dry-run", "--disable-pip-version-check", "--report", str(report)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return {item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"]
            for item in json.loads(report.read_text())["install"]}


@pytest.mark.slow   # > 20 s on 2 cores: run by `make test`, not by the floor test
def test_real_pip_keeps_colabs_ipywidgets_7(monkeypatch, colab_like_venv, tmp_path):
    """The exact pip commands of the setup cell (the GitHub URL replaced by this checkout), resolved
    by pip in a Colab-like environment: they must not touch ipywidgets or torch."""
    py = colab_like_venv
    version = subprocess.run([py, "-c", "import ipywidgets; print(ipywidgets.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version == "7.7.1"
    # the control: the report does see an upgrade when one is asked for
    assert "ipywidgets" in _dry_run(py, ["-m", "pip", "install", "ipywidgets>=8"], tmp_path)
    calls, _ = _run_setup_cell_on_a_simulated_colab(monkeypatch, missing={"pytorch-fid"})
    for cmd in calls:
        cmd = [str(ROOT) if a.startswith("gan_utils @ git+") else a for a in cmd[1:]]
        installs = _dry_run(py, cmd, tmp_path)
        touched = set(installs) & COLAB_PACKAGES
        assert not touched, f"{' '.join(cmd)} would install {({n: installs[n] for n in touched})}"
