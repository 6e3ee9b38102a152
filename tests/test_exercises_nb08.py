"""The exercise checks of notebook 08 accept the reference solutions, report unsolved stubs
without failing, and reject wrong answers (so a check that passes everything cannot slip in)."""
import json
import math
import os
import tempfile
from pathlib import Path

import pytest

from gan_utils.exercises import nb08
from exercise_harness import load_solutions, standard_check_tests

SOL = load_solutions("08_full_training.py")
CHECKS = {
    "write_json_atomic": nb08.check_write_json_atomic,
    "pending_evals": nb08.check_pending_evals,
    "fid_at_time": nb08.check_fid_at_time,
}


# the reference solutions pass; unsolved stubs report "not attempted yet" (tests/exercise_harness.py)
test_reference_solution_passes_its_check, test_unsolved_stub_reports_not_attempted_without_failing = \
    standard_check_tests(CHECKS, SOL)


# ---------------------------------------------------------------- wrong answers must fail
def _json_in_place(obj, path):
    with open(path, "w") as f:          # truncates first: a failed dump leaves half a file
        json.dump(obj, f)


def _json_string_then_in_place(obj, path):
    text = json.dumps(obj)
    Path(path).write_text(text)         # no partial file on TypeError, but not atomic


def _json_tmp_elsewhere(obj, path):
    text = json.dumps(obj)
    with tempfile.TemporaryDirectory() as d:   # another folder: across file systems not atomic
        tmp = Path(d) / "x.json"
        tmp.write_text(text)
        os.replace(tmp, path) if Path(d).stat().st_dev == Path(path).parent.stat().st_dev else \
            Path(path).write_text(tmp.read_text())


def _json_leaves_tmp(obj, path):
    fd, tmp = tempfile.mkstemp(dir=Path(path).parent)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f)                # on TypeError the temp file stays behind
    os.replace(tmp, path)


def _json_swallows_errors(obj, path):
    try:
        SOL.write_json_atomic(obj, path)
    except TypeError:
        pass


def _pending_no_last(done, ckpt, steps, every):
    return [t for t in range(every, steps + 1, every) if t >= ckpt and t not in set(done)]


def _pending_strictly_after_ckpt(done, ckpt, steps, every):
    return [t for t in SOL.pending_evals(done, 0, steps, every) if t > ckpt]


def _pending_ignores_done(done, ckpt, steps, every):
    return SOL.pending_evals([], ckpt, steps, every)


def _pending_all_missing(done, ckpt, steps, every):
    return SOL.pending_evals(done, 0, steps, every)


def _pending_reversed(done, ckpt, steps, every):
    return SOL.pending_evals(done, ckpt, steps, every)[::-1]


def _time_nearest(evals, s):
    if math.isnan(SOL.fid_at_time(evals, s)):
        return float("nan")
    return min(evals, key=lambda e: abs(e["train_seconds"] - s))["value"]


def _time_unsorted(evals, s):
    return nb08._naive_in_given_order(evals, s)


def _time_extrapolates(evals, s):
    v = SOL.fid_at_time(evals, s)
    return evals[0]["value"] if math.isnan(v) else v


def _time_swapped_weights(evals, s):
    pts = sorted((e["train_seconds"], e["value"]) for e in evals)
    for (t0, v0), (t1, v1) in zip(pts, pts[1:]):
        if t0 <= s <= t1:
            return v1 + (v0 - v1) * (s - t0) / (t1 - t0)
    return float("nan")


WRONG = [
    ("write_json_atomic", _json_in_place, "in place"),
    ("write_json_atomic", _json_string_then_in_place, "in place"),
    ("write_json_atomic", _json_tmp_elsewhere, "same folder"),
    ("write_json_atomic", _json_leaves_tmp, "left"),
    ("write_json_atomic", _json_swallows_errors, "should raise"),
    ("pending_evals", _pending_no_last, "last step"),
    ("pending_evals", _pending_strictly_after_ckpt, "evaluation is missing"),
    ("pending_evals", _pending_ignores_done, "evaluate nothing more"),
    ("pending_evals", _pending_all_missing, "before the checkpoint"),
    ("pending_evals", _pending_reversed, "order"),
    ("fid_at_time", _time_nearest, "one evaluation"),
    ("fid_at_time", _time_unsorted, "sorted"),
    ("fid_at_time", _time_extrapolates, "outside the measured range"),
    ("fid_at_time", _time_swapped_weights, "expected"),
]


@pytest.mark.parametrize("name, wrong, hint", WRONG, ids=[f"{n}-{w.__name__}" for n, w, _ in WRONG])
def test_wrong_answer_fails_with_a_helpful_message(name, wrong, hint):
    # guards against: a check that accepts anything (the learner would "pass" a wrong answer)
    with pytest.raises(AssertionError) as info:
        CHECKS[name](wrong)
    assert hint in str(info.value), f"message should mention {hint!r}: {info.value}"
