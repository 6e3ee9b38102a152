"""Measured numbers shown in the repository come from recorded measurements, never typed by hand:
the README's run times from docs/runtimes.json (scripts/measure_runtimes.py executes the notebooks),
configs/RESULTS.md from the runs' eval.json files in configs/results/ (scripts/record_run.py)."""
import importlib.util
import json
import sys
from pathlib import Path

from gan_utils.config import config_dir

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))


def _script(name="measure_runtimes"):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_table_is_the_one_generated_from_the_measurements():
    # guards against: a hand-edited (or stale) run time in the README
    mr = _script()
    db = json.loads((ROOT / "docs" / "runtimes.json").read_text())
    assert mr.readme_block(db) in (ROOT / "README.md").read_text(), \
        "README syllabus table differs from docs/runtimes.json: run python scripts/measure_runtimes.py --write-readme"


def test_every_measurement_names_its_hardware_date_and_load():
    # guards against: a number whose conditions nobody can check
    db = json.loads((ROOT / "docs" / "runtimes.json").read_text())
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert set(db) <= notebooks, f"measurements of notebooks that no longer exist: {sorted(set(db) - notebooks)}"
    for name, modes in db.items():
        assert set(modes) <= {"smoke", "cpu", "gpu"}, name
        for mode, e in modes.items():
            assert e["seconds"] > 0 and e["hardware"] and e["date"], (name, mode)
            assert "load_before" in e and "load_after" in e, (name, mode)


def test_a_missing_measurement_reads_not_measured():
    mr = _script()
    block = mr.readme_block({})
    assert "not measured" in block and "nothing yet" in block
    assert mr.GPU_NOTEBOOKS["08_full_training"] in block          # 08's CPU column says why it is not timed


def test_run_times_stated_in_the_notebooks_match_the_measurements():
    # guards against: a notebook promising "3 to 5 minutes" that nobody measured, or a number left
    # behind after the notebook's default mode changed
    import re

    import nbformat

    db = json.loads((ROOT / "docs" / "runtimes.json").read_text())
    stated = 0
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        for value, unit in re.findall(r"\(measured: (\d+(?:\.\d+)?) (min|s)\b", text):
            seconds = float(value) * (60 if unit == "min" else 1)
            cpu = db.get(path.stem, {}).get("cpu")
            assert cpu, f"{path.name} states a measured run time but docs/runtimes.json has no CPU measurement"
            assert 0.75 <= seconds / cpu["seconds"] <= 1.33, \
                f"{path.name} says {value} {unit}, docs/runtimes.json says {cpu['seconds']} s: update the text"
            stated += 1
    assert stated >= 5


def test_results_table_is_the_one_generated_from_the_recorded_runs():
    # guards against: a hand-edited score or training time in configs/RESULTS.md
    rr = _script("record_run")
    text = (ROOT / "configs" / "RESULTS.md").read_text()
    assert rr.table_block() in text, \
        "configs/RESULTS.md differs from configs/results/*.eval.json: run python scripts/record_run.py --write-table"
    assert rr.inception_block() in text, \
        "configs/RESULTS.md's Inception FID table differs from the records: run python scripts/record_run.py --write-table"


def test_every_inception_score_and_floor_names_its_protocol_cost_and_hardware():
    # guards against: an Inception FID recorded without the protocol (split, n, BatchNorm handling) that makes it
    # comparable with a paper's, or without what it cost
    results = ROOT / "configs" / "results"
    for path in sorted(results.glob("*.eval.json")):
        inc = json.loads(path.read_text()).get("inception")
        if inc:
            assert inc["metric"].startswith("FID") and "test" in inc["protocol"] and inc["hardware"], path.name
            assert "BatchNorm statistics recomputed" in inc["protocol"] and inc["seconds"] > 0, path.name
    for path in sorted(results.glob("*.floor.json")):
        for f in json.loads(path.read_text())["floors"]:
            assert f["n"] == 10_000 and f["seconds"] > 0 and "load_before" in f, path.name


def test_every_recorded_run_names_its_hardware_protocol_and_config():
    for path in sorted((ROOT / "configs" / "results").glob("*.eval.json")):
        log = json.loads(path.read_text())
        assert log["recorded"]["hardware"] and log["protocol"] and log["evals"], path.name
        assert (config_dir() / f"{log['name']}.json").exists(), f"{path.name}: no shipped config {log['name']}.json"
        assert all(e["protocol"] == log["protocol"] for e in log["evals"]), f"{path.name}: mixed protocols"


def test_notebook_08s_reading_of_the_recorded_fashion_mnist_runs_is_true_to_the_records():
    # guards against: the sentence "DCGAN reached a lower FD-classifier in less training time than WGAN-GP" outliving
    # the records it describes (they are re-recorded when a run is finished or trained again)
    import re

    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / "08_full_training.ipynb", as_version=4)
    text = re.sub(r"\s+", " ", "\n".join(c.source for c in nb.cells if c.cell_type == "markdown"))
    claim = "In the records DCGAN reached a lower FD-classifier in less training time than WGAN-GP"
    assert claim in text
    logs = {}
    for name in ("dcgan_fmnist", "wgan_gp_fmnist"):
        [path] = sorted((ROOT / "configs" / "results").glob(f"{name}.*.eval.json"))
        logs[name] = json.loads(path.read_text())
    best = {n: min(e["value"] for e in log["evals"]) for n, log in logs.items()}
    seconds = {n: max(e["train_seconds"] for e in log["evals"]) for n, log in logs.items()}
    assert best["dcgan_fmnist"] < best["wgan_gp_fmnist"] and seconds["dcgan_fmnist"] < seconds["wgan_gp_fmnist"]
