"""pyproject.toml's lower bounds, which `make test-floor` (scripts/floor.py) installs and tests."""
import sys
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import floor  # noqa: E402


def test_every_runtime_dependency_has_a_floor_the_floor_test_installs():
    # floors() raises for a dependency without a plain `name>=X`
    pins = floor.pins(torch_floor=True)
    assert len(pins) == len(floor.floors()) and all("==" in p for p in pins)
    assert not any(p.startswith(("torch==", "torchvision==")) for p in floor.pins(torch_floor=False))


def test_torch_floor_is_one_whose_wheels_work_beside_numpy_2():
    # guards against: torch>=2.1 resolving with numpy 2, where torch wheels before 2.3 fail
    # ("Numpy is not available"); numpy has no upper bound, so the torch floor must be >= 2.3
    f = floor.floors()
    assert Version(f["torch"]) >= Version("2.3") and Version(f["torchvision"]) >= Version("0.18")


def test_ipywidgets_floor_keeps_colabs_7x():
    assert Version(floor.floors()["ipywidgets"]) <= Version("7.7.1")
