"""Notebook hygiene without running them: outputs policy, shared cells, smoke switch, Colab setup.

Policy (CONTRIBUTING.md): notebooks are committed stripped, except the outputs of
``# NBVAL_CHECK_OUTPUT`` cells, which scripts/sync_notebooks.py --record takes from a real smoke
run and nbval re-checks on every CI run (so a hand edit fails CI). No error output is ever committed.
"""
import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
sys.path.insert(0, str(ROOT / "scripts"))
import sync_notebooks  # noqa: E402


def _nb(path):
    return nbformat.read(path, as_version=4)


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_stripped_no_outputs_no_errors(path):
    for i, cell in enumerate(_nb(path).cells):
        if cell.cell_type != "code":
            continue
        assert all(o.get("output_type") != "error" for o in cell.outputs), f"{path.name} cell {i}: error output"
        if sync_notebooks.is_checked(cell):
            # nbval compares only cells with a recorded run: an unrecorded check checks nothing
            assert cell.execution_count is not None and cell.outputs, \
                f"{path.name} cell {i} is a NBVAL_CHECK_OUTPUT cell without recorded outputs: " \
                "run python scripts/sync_notebooks.py --record " + path.name[:2]
            assert all(o.get("output_type") in ("stream", "execute_result") for o in cell.outputs)
        else:
            # a learner's saved run in the tracked notebooks: say what to do (scripts/course.py), once per notebook
            assert not (cell.outputs or cell.execution_count is not None), \
                f"{path.name} cell {i} has saved outputs (policy: stripped). If this is your own work, " \
                "`make move-edits` moves it to my-notebooks/ and restores notebooks/ (`make test` says so first)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_shared_cells_in_sync(path):
    """Badge and setup cell are generated from pyproject's slug; hand edits drift."""
    assert path.read_text() == sync_notebooks.normalised(path), \
        f"{path.name} is out of sync: run python scripts/sync_notebooks.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_badge_and_parameters_cell(path):
    nb = _nb(path)
    assert nb.cells[0].cell_type == "markdown" and sync_notebooks.badge_url(path.name) in nb.cells[0].source
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == sync_notebooks.setup_cell_source()
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    assert "SMOKE = gan_utils.SMOKE" in params[0].source
    src = "\n".join(c.source for c in code)
    assert not re.search(r"""torch\.device\(\s*["']cuda["']\s*\)|\.cuda\(\)""", src), "no hard-coded cuda: use `device`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_asks_for_a_gpu_only_where_the_table_says(path):
    # guards against: every notebook asking Colab for a GPU runtime (scarce free quota) when only
    # 08 needs one
    nb = _nb(path)
    wanted = sync_notebooks.COLAB_ACCELERATOR.get(path.name[:2])
    assert nb.metadata.get("accelerator") == wanted
    assert ("gpuType" in nb.metadata.get("colab", {})) == bool(wanted)
    assert "08" in sync_notebooks.COLAB_ACCELERATOR, "notebook 08 trains on a GPU"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_link_renders_offline(path):
    # guards against: the remote badge image showing as a broken icon without network
    badge = _nb(path).cells[0].source
    assert sync_notebooks.badge_url(path.name) in badge
    assert not re.search(r"!\[[^\]]*\]\(https?://", badge), "no remote image in the Colab link"


# The setup cell's behaviour (OpenMP, the Colab install) is tested in tests/test_setup_cell.py.


def test_environment_yml_is_conda_forge_only_with_pyprojects_packages_and_bounds():
    # guards against: the frozen `pytorch` channel mixed with conda-forge (broken MKL symbols), and
    # an environment.yml whose packages or lower bounds drift from pyproject.toml's
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover
        import tomli as tomllib
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def parse(req):
        m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(?:>=\s*([0-9][0-9A-Za-z.]*))?", req.strip())
        return m.group(1).lower().replace("_", "-"), m.group(2)

    py = dict(parse(r) for r in proj["dependencies"] + proj["optional-dependencies"]["dev"])
    text = (ROOT / "environment.yml").read_text()
    channels = re.search(r"^channels:\n((?:\s+- .+\n)+)", text, flags=re.M).group(1)
    assert [c.strip("- ").strip() for c in channels.splitlines()] == ["conda-forge", "nodefaults"]
    env = {}
    for line in text.split("dependencies:", 1)[1].splitlines():
        m = re.match(r"^\s+-\s+([^#]+?)\s*$", line)
        if not m or m.group(1).startswith(("-e", "pip:")) or m.group(1) in ("pip", "pip:"):
            continue
        name, low = parse(m.group(1))
        env[{"pytorch": "torch"}.get(name, name)] = low
    env.pop("python")
    assert env == py, f"environment.yml {env} != pyproject.toml {py}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_ends_with_2_to_4_checked_exercises_with_solutions_run_in_ci(path):
    # guards against: a notebook shipping exercises whose checks or solutions nobody runs
    nn = path.name[:2]
    cells = _nb(path).cells
    checks = sorted({m for c in cells if c.cell_type == "code"
                     for m in re.findall(rf"\bnb{nn}\.(check_\w+)\(", c.source)})
    # 05 is a lab: every one of its 13 bug sections is an exercise, so it has more than 4
    low, high = (2, 20) if nn == "05" else (2, 4)
    assert low <= len(checks) <= high, f"{path.name}: {len(checks)} exercise checks ({checks}), expected {low}-{high}"
    module = importlib.import_module(f"gan_utils.exercises.nb{nn}")
    solutions = (ROOT / "solutions" / f"{path.stem}.py").read_text()
    tests = (ROOT / "tests" / f"test_exercises_nb{nn}.py").read_text()
    for check in checks:
        assert hasattr(module, check), f"{path.name} calls nb{nn}.{check}, which does not exist"
        assert f"nb{nn}.{check}" in tests, f"tests/test_exercises_nb{nn}.py does not run {check}"
    stubs = {m for c in cells if c.cell_type == "code" and "raise NotImplementedError" in c.source
             for m in re.findall(r"^def (\w+)\(", c.source, flags=re.M)}
    assert stubs, f"{path.name}: no exercise stubs (functions raising NotImplementedError)"
    for stub in sorted(stubs):
        assert re.search(rf"^def {stub}\(", solutions, flags=re.M), f"solutions/{path.stem}.py lacks {stub}()"
    last_exercise = max(i for i, c in enumerate(cells) if f"nb{nn}.check_" in c.source)
    assert nn == "05" or all(c.cell_type == "markdown" for c in cells[last_exercise + 1:]), \
        f"{path.name}: the exercises should be the notebook's last code cells (summary after them is fine)"
