"""docs/translation_record.json (scripts/record_translation.py) is a real, complete run of the library's
arms, and every number notebooks/11_image_to_image.ipynb quotes from it in prose is the recorded one (the
pattern of tests/test_recipes_record.py: measured numbers are never typed by hand)."""
import re
from pathlib import Path

import pytest
from record_harness import markdown_prose

from gan_utils.lessons import image_to_image as i2i
from gan_utils.lessons.records import fmt_stat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "11_image_to_image.ipynb"


@pytest.fixture(scope="module")
def record():
    return i2i.load_record(ROOT / "docs" / i2i.RECORD_NAME)


def _prose() -> str:
    return markdown_prose(NOTEBOOK)


def test_record_is_a_real_complete_run_naming_its_hardware_date_load_and_seeds(record):
    # guards against: a smoke-size, partial or hand-made record presented as the measurement
    rec = record["recorded"]
    assert rec["smoke"] is False and rec["complete"] is True and rec["wall_seconds"] > 600
    assert rec["hardware"]["cpu"] and rec["hardware"]["cores"] and rec["started"] and rec["finished"] and rec["git_commit"]
    assert "load_before" in rec and "load_after" in rec and rec["load_every_minute"]
    z = record["sizes"]
    assert len(z["seeds"]) == 3 and z["n_train"] is None and z["n_test"] is None
    for part in ("pix2pix", "cyclegan"):
        r = record[part]
        assert r["seeds"] == z["seeds"] and r["steps"] == z["steps"]
        for runs in r["runs"].values():
            assert [x["seed"] for x in runs] == z["seeds"] and all(x["metrics"]["n"] == z["n_eval"] for x in runs)
    c = record["classes"]
    assert (c["a"], c["b"]) == (i2i.SNEAKER, i2i.SANDAL) and c["steps"] == z["class_steps"]
    assert [x["seed"] for x in c["runs"]["full"]] == z["seeds"]


def test_recorded_arms_and_sizes_are_the_ones_the_library_defines_now(record):
    # guards against: changing an arm or a size in gan_utils without recording it again
    assert record["pix2pix"]["arms"] == i2i.PIX2PIX_ARMS and record["cyclegan"]["arms"] == i2i.CYCLEGAN_ARMS
    z = record["sizes"]
    assert {k: (list(v) if isinstance(v, tuple) else v) for k, v in i2i.FULL_SIZES.items()} == z


def test_summary_is_recomputed_from_the_runs(record):
    # guards against: a summary edited (or left stale) apart from the per-seed results it summarises
    for part in ("pix2pix", "cyclegan", "classes"):
        assert i2i.summarise(record[part]) == record[part]["summary"]


def test_the_sentences_quoting_the_record_are_generated_from_it(record):
    # guards against: prose (means, spreads, verdicts) written for an older record; regenerate with
    # python scripts/record_translation.py --write-notebook
    text = _prose()
    for part, (start, end) in i2i.SENTENCE_MARKERS.items():
        assert start in text and end in text, f"notebook 11 lost the markers of the {part} sentences"
        block = text[text.index(start) + len(start):text.index(end)].strip()
        assert block == i2i.record_sentences(record, part), (
            f"notebook 11's {part} sentences differ from docs/translation_record.json: run "
            "python scripts/record_translation.py --write-notebook")


def test_every_mean_and_spread_quoted_in_the_notebook_is_the_recorded_one(record):
    # guards against: a number in the prose that was typed, or left behind after a new record
    quoted = re.findall(r"(\d+(?:\.\d+)?) ± (\d+(?:\.\d+)?)", _prose())
    assert len(quoted) >= 10, "the notebook should quote the recorded results"
    known = set()
    for part in ("pix2pix", "cyclegan", "classes"):
        for s in record[part]["summary"].values():
            for stat in s.values():
                known |= {fmt_stat(stat, d) for d in (0, 1, 2, 3)}
    for mean, std in quoted:
        assert f"{mean} ± {std}" in known, f"notebook 11 quotes {mean} ± {std}, which is not in {i2i.RECORD_NAME}"


def test_every_size_the_prose_states_is_the_recorded_one(record):
    # guards against: "3 seeds, 1000 steps, batch 16" typed in the prose and left behind when the record changes
    text = _prose()
    z = record["sizes"]
    found = 0
    for m in re.finditer(r"(\d[\d ]*) steps each|for (\d[\d ]*) steps", text):
        assert int((m.group(1) or m.group(2)).replace(" ", "")) in (z["steps"], z["class_steps"]), m.group(0)
        found += 1
    for m in re.finditer(r"(\d+)\**? seeds", text):
        assert int(m.group(1)) == len(z["seeds"]), m.group(0)
        found += 1
    for m in re.finditer(r"(\d[\d ]*) test (?:pairs|garments)", text):
        assert int(m.group(1).replace(" ", "")) == z["n_eval"], m.group(0)
        found += 1
    for m in re.finditer(r"batch (\d+), width (\d+)", text):
        assert (int(m.group(1)), int(m.group(2))) == (z["batch_size"], z["width"]), m.group(0)
        found += 1
    assert found >= 6, "the prose should state the record's sizes"
