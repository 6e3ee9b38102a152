"""docs/improved_record.json (scripts/record_improved.py) is a real, complete run of the library's arms, and every
number that notebooks/14_improved_techniques.ipynb quotes from it in prose is the recorded one (the pattern of
tests/test_recipes_record.py: measured numbers are never typed by hand)."""
import re
from pathlib import Path

import pytest
from record_harness import markdown_prose

from gan_utils.lessons import improved
from gan_utils.lessons.records import fmt_stat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "14_improved_techniques.ipynb"


@pytest.fixture(scope="module")
def record():
    return improved.load_record(ROOT / "docs" / improved.RECORD_NAME)


def _prose() -> str:
    return markdown_prose(NOTEBOOK)


def test_record_is_a_real_complete_run_naming_its_hardware_date_load_and_commit(record):
    # guards against: a smoke-size, partial or hand-made record presented as the measurement
    rec = record["recorded"]
    assert rec["complete"] is True and set(rec["parts_done"]) == {"pilot", "toys", "semisup", "images"}
    runs = improved.recording_runs(rec)                 # a part recorded again (--only) is a run of its own
    assert {p for run in runs for p in run.get("parts_run", run["parts_done"])} == set(rec["parts_done"])
    assert sum(run["wall_seconds"] for run in runs) > 1800
    for run in runs:
        assert run["smoke"] is False and run["sizes"]["seeds"] == [0, 1, 2]
        assert run["hardware"]["cpu"] and run["hardware"]["cores"] and run["started"] and run["finished"]
        assert "load_before" in run and "load_after" in run and run["load_every_minute"] and run["git_commit"]


def test_every_arm_has_one_run_per_seed(record):
    seeds = record["recorded"]["sizes"]["seeds"]
    for toy, arms in record["toys"]["runs"].items():
        assert set(arms) == set(improved.TOY_ARMS), toy
        for runs in arms.values():
            assert [r["seed"] for r in runs] == seeds
    assert set(record["images"]["runs"]) == set(improved.IMAGE_ARMS)
    assert all([r["seed"] for r in runs] == seeds for runs in record["images"]["runs"].values())
    for kind in ("gan", "labelled-only"):
        assert [r["seed"] for r in record["semisup"]["runs"][kind]] == seeds


def test_recorded_arms_are_the_ones_the_library_defines_now(record):
    # guards against: changing an arm (a loss, an option, the averaging weight) without recording it again
    w = record["pilot"]["best"]
    assert w == improved.HA_WEIGHT, "HA_WEIGHT must be the pilot's choice"
    assert record["pilot"]["weights"] == list(improved.HA_PILOT_WEIGHTS) and record["pilot"]["seed"] == improved.PILOT_SEED
    assert record["toys"]["arms"] == {n: a.as_dict() for n, a in improved.toy_arms(w).items()}
    assert record["images"]["arms"] == {n: a.as_dict() for n, a in improved.image_arms(w).items()}


def test_the_pilots_choice_is_its_best_run(record):
    runs = record["pilot"]["runs"]
    best = max(runs, key=lambda k: (runs[k]["modes"], runs[k]["hq"]))
    assert float(best) == record["pilot"]["best"]


def test_summaries_are_recomputed_from_the_runs(record):
    # guards against: a summary edited (or left stale) apart from the per-seed results it summarises
    assert improved.summarise_toys(record["toys"]) == record["toys"]["summary"]
    assert improved.summarise_images(record["images"]) == record["images"]["summary"]
    assert improved.summarise_semisup(record["semisup"]) == record["semisup"]["summary"]


def test_the_sentences_quoting_the_record_are_generated_from_it(record):
    # guards against: prose (tables, verdicts) written for an older record; regenerate with
    # python scripts/record_improved.py --write-notebook
    text = _prose()
    for part, (start, end) in improved.SENTENCE_MARKERS.items():
        assert start in text and end in text, f"notebook 14 lost the markers of the {part} sentences"
        block = text[text.index(start) + len(start):text.index(end)].strip()
        assert block == improved.record_sentences(record, part), (
            f"notebook 14's {part} sentences differ from docs/improved_record.json: run "
            "python scripts/record_improved.py --write-notebook")


def test_every_mean_and_spread_in_the_prose_is_a_recorded_one(record):
    # guards against: a number in the prose that was typed, or left behind after a new record
    known = set()
    for part in ("toys", "images", "semisup"):
        block = improved.record_sentences(record, part)
        known |= {f"{m} ± {s}" for m, s in re.findall(r"(-?\d+(?:\.\d+)?) ± (\d+(?:\.\d+)?)", block)}
    quoted = re.findall(r"(-?\d+(?:\.\d+)?) ± (\d+(?:\.\d+)?)", _prose())
    assert len(quoted) >= 20, "the notebook should quote the recorded results"
    paper = {"93 ± 6.5"}                              # Salimans et al. 2016, Table 1 (MNIST, 100 labels): not ours
    for mean, std in quoted:
        assert f"{mean} ± {std}" in known | paper, f"notebook 14 quotes {mean} ± {std}, which is not in the record"
    assert fmt_stat(record["semisup"]["summary"]["gap"], 2).split(" ± ")[1] in _prose()
