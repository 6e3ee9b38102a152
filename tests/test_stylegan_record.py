"""docs/stylegan_record.json (scripts/record_stylegan.py) is a real, complete run of the arms the library defines now,
and every number that notebooks/12_stylegan.ipynb quotes from it in prose is the recorded one (the pattern of
tests/test_recipes_record.py: measured numbers are never typed by hand)."""
import json
import re
from pathlib import Path

import pytest
from record_harness import markdown_prose

from gan_utils.lessons import stylegan
from gan_utils.lessons.records import fmt_stat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "12_stylegan.ipynb"


@pytest.fixture(scope="module")
def record():
    return stylegan.load_record(ROOT / "docs" / stylegan.RECORD_NAME)


def _prose() -> str:
    return markdown_prose(NOTEBOOK)


def test_record_is_a_real_run_naming_its_hardware_date_load_and_seeds(record):
    # guards against: a smoke-size or hand-made record presented as the measurement
    rec = record["recorded"]
    assert rec["smoke"] is False and rec["wall_seconds"] > 600 and rec["git_commit"]
    assert rec["hardware"]["cpu"] and rec["hardware"]["cores"] and rec["started"] and rec["finished"]
    assert "load_before" in rec and "load_after" in rec
    sizes = record["sizes"]
    assert sizes["seeds"] == [0, 1, 2] and sizes["budget"] >= 60
    for name, runs in record["runs"].items():
        assert [r["seed"] for r in runs] == sizes["seeds"], name
        # every arm trained for the budget (the last turn may overshoot by a fraction of a turn)
        assert all(0.95 * sizes["budget"] <= r["cpu_seconds"] <= 1.5 * sizes["budget"] for r in runs), name
        assert all(r["steps"] > 0 for r in runs)


def test_recorded_arms_are_the_ones_the_library_defines_now(record):
    # guards against: changing an arm (its config, model or optimiser) without recording it again
    assert set(record["arms"]) == set(stylegan.ARMS)
    for name in stylegan.ARMS:
        opts = json.loads(json.dumps(stylegan.arm_options(name, 0, record["sizes"])))   # as JSON stores them: tuples
        assert record["arms"][name]["options"] == opts, name                           # (betas) come back as lists


def test_summary_is_recomputed_from_the_runs(record):
    # guards against: a summary edited (or left stale) apart from the per-seed results it summarises
    assert stylegan.summarise(record) == record["summary"]


def test_every_mean_and_spread_quoted_in_the_notebook_is_the_recorded_one(record):
    # guards against: a number in the prose that was typed, or left behind after a new record
    quoted = re.findall(r"(\d+(?:\.\d+)?) ± (\d+(?:\.\d+)?)", _prose())
    assert len(quoted) >= 10, "the notebook should quote the recorded results"
    known = {fmt_stat(stat, d) for s in record["summary"].values() for stat in s.values() for d in (0, 1, 2)}
    for mean, std in quoted:
        assert f"{mean} ± {std}" in known, f"notebook 12 quotes {mean} ± {std}, which is not in docs/{stylegan.RECORD_NAME}"


def test_the_sentences_quoting_the_record_are_generated_from_it(record):
    # guards against: prose (means, spreads, verdicts) written for an older record; regenerate with
    # python scripts/record_stylegan.py --write-notebook
    text = _prose()
    for part, (start, end) in stylegan.SENTENCE_MARKERS.items():
        assert start in text and end in text, f"notebook 12 lost the markers of the {part} sentences"
        block = text[text.index(start) + len(start):text.index(end)].strip()
        assert block == stylegan.record_sentences(record, part), (
            f"notebook 12's {part} sentences differ from docs/{stylegan.RECORD_NAME}: run "
            "python scripts/record_stylegan.py --write-notebook")


def test_the_dcgan_arm_is_notebook_04s_model():
    # guards against: the comparison's DCGAN drifting from the one notebook 04 trains (width, batch, optimiser)
    src = (ROOT / "notebooks" / "04_dcgan.ipynb").read_text()
    opts = stylegan.arm_options("dcgan", 0)
    assert opts["width"] == 32 and opts["batch_size"] == 64 and "WIDTH = 8 if SMOKE else 32" in src
    assert "BATCH = 32 if SMOKE else 64" in src and opts["lr_g"] == opts["lr_d"] == 2e-4
