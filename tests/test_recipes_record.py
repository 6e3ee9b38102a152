"""docs/recipes_record.json (scripts/record_recipes.py) is a real, complete run, and every number that
notebooks/10_modern_recipes.ipynb quotes from it in prose is the recorded one (the pattern of
tests/test_recorded_measurements.py: measured numbers are never typed by hand)."""
import re
from pathlib import Path

import pytest
from record_harness import markdown_prose

from gan_utils.data import synthetic_images
from gan_utils.lessons import recipes

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "10_modern_recipes.ipynb"


@pytest.fixture(scope="module")
def record():
    return recipes.load_record(ROOT / "docs" / recipes.RECORD_NAME)


def _prose() -> str:
    return markdown_prose(NOTEBOOK)


def test_record_is_a_real_run_naming_its_hardware_date_load_and_seeds(record):
    # guards against: a smoke-size or hand-made record presented as the measurement
    rec = record["recorded"]
    assert rec["smoke"] is False and rec["wall_seconds"] > 600
    assert rec["hardware"]["cpu"] and rec["hardware"]["cores"] and rec["started"] and rec["finished"]
    assert "load_before" in rec and "load_after" in rec
    assert not any(k.startswith("DEV") for k in rec)
    for part, arms in (("full", recipes.ARMS), ("limited", recipes.LIMITED_ARMS)):
        r = record[part]
        assert set(r["runs"]) == set(arms) and len(r["seeds"]) == 3
        for runs in r["runs"].values():
            assert [x["seed"] for x in runs] == r["seeds"]
            assert all(x["at_steps"]["step"] == r["steps"] for x in runs)
    assert record["limited"]["n_train_images"] == 1000


def test_recorded_arms_are_the_ones_the_library_defines_now(record):
    # guards against: changing an arm (loss, D, R1 strength) in gan_utils without recording it again
    for part, arms in (("full", recipes.ARMS), ("limited", recipes.LIMITED_ARMS)):
        for name, arm in arms.items():
            saved = record[part]["arms"][name]
            assert (saved["loss"], saved["norm"], saved["overrides"]) == (arm.loss, arm.norm, arm.overrides), name


def test_r1_strength_is_the_pilots_best(record):
    pilot = record["pilot"]["summary"]
    assert min(pilot, key=lambda k: pilot[k]["fd_at_steps"]["mean"]) == f"R1 gamma={recipes.R1_GAMMA:g}"


def test_summary_is_recomputed_from_the_runs(record):
    # guards against: a summary edited (or left stale) apart from the per-seed results it summarises
    for part in ("pilot", "full", "limited"):
        assert recipes.summarise(record[part]) == record[part]["summary"]


def _recorded_stats(record) -> set:
    out = set()
    for part in ("full", "limited"):
        for s in record[part]["summary"].values():
            for stat in s.values():
                for digits in (0, 1, 2):
                    out.add(recipes.fmt_stat(stat, digits))
    return out


def test_every_mean_and_spread_quoted_in_the_notebook_is_the_recorded_one(record):
    # guards against: a number in the prose that was typed, or left behind after a new record
    quoted = re.findall(r"(\d+(?:\.\d+)?) ± (\d+(?:\.\d+)?)", _prose())
    assert len(quoted) >= 4, "the notebook should quote the recorded results"
    known = _recorded_stats(record)
    for mean, std in quoted:
        assert f"{mean} ± {std}" in known, f"notebook 10 quotes {mean} ± {std}, which is not in docs/recipes_record.json"


def test_every_steps_and_seeds_count_in_the_prose_is_the_recorded_one(record):
    text = _prose()
    for m in re.finditer(r"(\d[\d ]*) (?:generator )?steps? \(recorded\)", text):
        n = int(m.group(1).replace(" ", ""))
        assert n in (record["full"]["steps"], record["limited"]["steps"], record["pilot"]["steps"]), m.group(0)


def test_the_sentences_quoting_the_record_are_generated_from_it(record):
    # guards against: prose (means, spreads, verdicts "not distinguished by three seeds") written for an older
    # record; regenerate with python scripts/record_recipes.py --write-notebook
    text = _prose()
    for part, (start, end) in recipes.SENTENCE_MARKERS.items():
        assert start in text and end in text, f"notebook 10 lost the markers of the {part} sentences"
        block = text[text.index(start) + len(start):text.index(end)].strip()
        assert block == recipes.record_sentences(record, part), (
            f"notebook 10's {part} sentences differ from docs/recipes_record.json: run "
            "python scripts/record_recipes.py --write-notebook")


def test_new_records_say_how_the_ema_generators_batchnorm_statistics_were_treated():
    # guards against: a record whose scores cannot be told apart from ones measured with the raw G's copied
    # BatchNorm statistics; the notebook's sentences (generated from the record) say which kind it is
    toy = recipes.compare({"bce-ns": recipes.ARMS["bce-ns"]}, synthetic_images(64, channels=1, image_size=32, seed=0),
                          seeds=(0,), steps=2, chunk=2, eval_every=2, width=4, batch_size=8, fd_n=16,
                          equal_time=False, n_grid=0, progress=False, log=lambda *a: None)
    assert toy["ema_batchnorm"] == recipes.EMA_BATCHNORM


def test_notebook_08s_sentence_about_notebook_10s_comparison_is_true_to_the_record(record):
    # guards against: notebook 08 saying the CPU-scale comparison "did not favour the modern recipe" after a new record
    # in which hinge + SN scores lower (better) than the DCGAN baseline
    import json

    nb = json.loads((ROOT / "notebooks" / "08_full_training.ipynb").read_text())
    text = re.sub(r"\s+", " ", " ".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"))
    assert "its recorded comparison did not favour the modern recipe" in text
    s = record["full"]["summary"]
    assert s["hinge+SN"]["fd_at_steps"]["mean"] >= s["bce-ns"]["fd_at_steps"]["mean"]
