"""docs/sequence_gans_record.json (scripts/record_sequence_gans.py) is a real, complete 3-seed run of the
settings the library defines now, and every number notebooks/13_sequence_gans.ipynb quotes from it in
prose is the recorded one (measured numbers are never typed by hand)."""
import re
from dataclasses import asdict
from pathlib import Path

import pytest
from record_harness import markdown_prose

from gan_utils.lessons import sequence_gans as L
from gan_utils.lessons.records import fmt_stat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "13_sequence_gans.ipynb"


@pytest.fixture(scope="module")
def record():
    return L.load_record(ROOT / "docs" / L.RECORD_NAME)


def _prose() -> str:
    return markdown_prose(NOTEBOOK)


def _plain(d):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def test_record_is_a_real_complete_run_naming_its_hardware_date_load_and_commit(record):
    # guards against: a smoke-size, partial or hand-made record presented as the measurement
    rec = record["recorded"]
    assert rec["smoke"] is False and rec["complete"] is True and rec["wall_seconds"] > 600
    assert rec["hardware"]["cpu"] and rec["hardware"]["cores"] and rec["started"] and rec["finished"]
    assert "load_before" in rec and "load_after" in rec and rec["load_every_minute"] and rec["git_commit"]
    assert record["seeds"] == [0, 1, 2] and [r["seed"] for r in record["runs"]] == record["seeds"]


def test_record_was_made_with_the_settings_the_library_defines_now(record):
    # guards against: changing the experiment (a learning rate, the oracle, the sizes) without recording it again
    assert record["config"] == _plain(asdict(L.CONFIG))
    assert record["sizes"] == _plain(L.FULL_SIZES)
    for run in record["runs"]:
        assert run["mle"]["curve"]["step"][-1] == L.FULL_SIZES["mle_steps"] + L.FULL_SIZES["mle_extra"]
        for arm in ("seqgan", "gumbel"):
            assert run[arm]["curve"]["step"][-1] == L.FULL_SIZES["rounds"]
            assert len(run[arm]["curve"]["d_accuracy"]) == len(run[arm]["curve"]["step"])


def test_summary_is_recomputed_from_the_runs(record):
    # guards against: a summary (means, curve gaps, exposure bias) edited or left stale apart from the per-seed
    # results it is derived from; regenerate with python scripts/record_sequence_gans.py --resummarise
    assert L.summarise(record) == record["summary"]


def test_the_sentences_quoting_the_record_are_generated_from_it(record):
    # guards against: prose (means, spreads, verdicts) written for an older record; regenerate with
    # python scripts/record_sequence_gans.py --write-notebook
    text = _prose()
    for part, (start, end) in L.SENTENCE_MARKERS.items():
        assert start in text and end in text, f"notebook 13 lost the markers of the {part} sentences"
        block = text[text.index(start) + len(start):text.index(end)].strip()
        assert block == L.record_sentences(record, part), (
            f"notebook 13's {part} sentences differ from docs/sequence_gans_record.json: run "
            "python scripts/record_sequence_gans.py --write-notebook")


def _recorded_stats(record) -> set:
    out = set()

    def walk(x):
        if isinstance(x, dict):
            if {"mean", "std", "values"} <= set(x):
                out.update(fmt_stat(x, d) for d in (0, 1, 2, 3))
            for v in x.values():
                walk(v)

    walk(record["summary"])
    return out


def test_every_mean_and_spread_quoted_in_the_notebook_is_the_recorded_one(record):
    # guards against: a number in the prose that was typed, or left behind after a new record
    quoted = re.findall(r"(-?\d+(?:\.\d+)?) ± (\d+(?:\.\d+)?)", _prose())
    assert len(quoted) >= 8, "the notebook should quote the recorded results"
    known = _recorded_stats(record)
    for mean, std in quoted:
        assert f"{mean} ± {std}" in known, f"notebook 13 quotes {mean} ± {std}, which is not in docs/sequence_gans_record.json"


def test_no_placeholder_is_left_in_the_prose():
    assert "PLACEHOLDER" not in _prose()
