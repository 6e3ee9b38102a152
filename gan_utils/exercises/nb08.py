"""Checks for the exercises of notebooks/08_full_training.ipynb (references in
:mod:`gan_utils.experiment`; solutions in solutions/08_full_training.py).

Each ``check_*`` compares what the learner's function *returns or does* with the reference: it
prints "not attempted yet" and returns ``False`` while the stub still raises
``NotImplementedError``, raises ``AssertionError`` saying what is wrong on a wrong answer, and
prints a confirmation and returns ``True`` on a right one.
"""
from __future__ import annotations

import json
import math
import os
import random
import tempfile
from pathlib import Path

from .. import experiment
from ._common import _NotAttempted, _call, _fail, _not_attempted

__all__ = ["check_write_json_atomic", "check_pending_evals", "check_fid_at_time"]


# ---------------------------------------------------------------- exercise 1: atomic JSON
class _Unserialisable:
    def __repr__(self) -> str:
        return "<an object json cannot write>"


def check_write_json_atomic(fn) -> bool:
    """``fn(obj, path)`` must write ``obj`` as JSON to ``path`` so that no crash can leave a
    truncated file: the old file stays whole until the new one is complete, which means writing a
    temporary file **in the same folder** and renaming it over ``path`` (``os.replace``)."""
    name = "write_json_atomic"
    renames = []
    real_replace, real_rename = os.replace, os.rename

    def spy(real):
        def wrapped(src, dst, *a, **k):
            renames.append((Path(src), Path(dst)))
            return real(src, dst, *a, **k)
        return wrapped

    try:
        with tempfile.TemporaryDirectory() as d:
            folder = Path(d) / "run"
            folder.mkdir()
            path = folder / "eval.json"
            first = {"evals": [{"step": 1000, "value": 41.5}], "metric": "FID-10k"}
            _call(fn, first, path)
            if not path.is_file():
                _fail(f"{name}: no file at {path} after the call.")
            try:
                back = json.loads(path.read_text())
            except ValueError as e:
                raise AssertionError(f"{name}: the file is not valid JSON ({e}).") from None
            if back != first:
                _fail(f"{name}: reading the file back gives {back!r}, expected {first!r}.")

            # a second write replaces the file as a whole (a new file renamed over the old one)
            second = {"evals": first["evals"] + [{"step": 2000, "value": 37.25}], "metric": "FID-10k"}
            inode = os.stat(path).st_ino
            os.replace, os.rename = spy(real_replace), spy(real_rename)
            try:
                _call(fn, second, path)
            finally:
                os.replace, os.rename = real_replace, real_rename
            if json.loads(path.read_text()) != second:
                _fail(f"{name}: the second call did not overwrite the file with the new object.")
            leftovers = sorted(p.name for p in folder.iterdir() if p.name != "eval.json")
            if leftovers:
                _fail(f"{name}: files left behind in the folder: {leftovers}. Rename the temporary file "
                      "onto path (os.replace), and remove it if anything fails.")
            moved = [(s, t) for s, t in renames if t.resolve() == path.resolve()]
            if not moved and os.stat(path).st_ino == inode:
                _fail(f"{name}: the file was rewritten in place (same inode). If the process dies halfway, "
                      "eval.json is truncated and the whole log is lost. Write a temporary file, then "
                      "os.replace(tmp, path): a rename is atomic, the old file stays whole until then.")
            for src, _ in moved:
                if src.resolve().parent != path.resolve().parent:
                    _fail(f"{name}: the temporary file was in {src.parent}, not in the same folder as {path.name}. Across "
                          "file systems (local disk -> mounted Google Drive) a rename is a copy, not atomic, "
                          "or fails outright: create it with tempfile.mkstemp(dir=path.parent).")

            # an object json cannot write: the old file must survive untouched
            bad = {"evals": [{"step": s, "value": float(s)} for s in range(5000)], "oops": _Unserialisable()}
            before = path.read_text()
            try:
                _call(fn, bad, path)
            except _NotAttempted:
                raise
            except (TypeError, ValueError):
                pass
            else:
                _fail(f"{name}: writing an object json cannot serialise should raise (TypeError), "
                      "not succeed silently.")
            if path.read_text() != before:
                _fail(f"{name}: a failed write destroyed the previous file (it now holds "
                      f"{len(path.read_text())} characters of something else). json.dump writes while "
                      "it serialises: open(path, 'w') truncates first. Serialise to a string, or write "
                      "a temporary file, before touching path.")
            leftovers = sorted(p.name for p in folder.iterdir() if p.name != "eval.json")
            if leftovers:
                _fail(f"{name}: a failed write left {leftovers} behind: remove the temporary file when "
                      "something goes wrong (try/finally).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: writes whole files, renames them into place from the same folder, and a failed "
          "write leaves the previous file intact.")
    return True


# ---------------------------------------------------------------- exercise 2: what a re-run must do
def _pending_cases(n_random: int, seed: int):
    rng = random.Random(seed)
    cases = [
        ([], 0, 10, 4, "a fresh run"),
        ([4, 8, 10], 10, 10, 4, "a finished run"),
        ([4], 8, 10, 4, "the checkpoint of step 8 was saved, its evaluation lost to a disconnect"),
        ([4, 8], 8, 10, 4, "a run stopped right after an evaluation"),
        ([4], 6, 12, 4, "a periodic checkpoint in the middle of a chunk"),
        ([], 0, 7, 3, "steps not a multiple of eval_every"),
        ([2, 4], 4, 4, 2, "a finished run"),
        ([], 5, 10, 5, "a lost evaluation at the first checkpoint"),
    ]
    for _ in range(n_random):
        every = rng.randint(1, 6)
        steps = rng.randint(1, 40)
        targets = experiment.eval_targets(steps, every)
        ckpt = rng.choice([0] + targets + [rng.randint(0, steps)])
        done = [t for t in targets if t <= ckpt and rng.random() < 0.8]
        cases.append((done, ckpt, steps, every, "random"))
    return cases


def check_pending_evals(fn, n_random: int = 40, seed: int = 0) -> bool:
    """``fn(done, ckpt_step, steps, eval_every)`` must return, in increasing order, the steps at
    which a restarted run still has to evaluate: the targets ``eval_every, 2 * eval_every, ...`` and
    the last step, not yet ``done``, and not before the checkpoint (those weights are gone)."""
    name = "pending_evals"
    try:
        for done, ckpt, steps, every, what in _pending_cases(n_random, seed):
            got = _call(fn, list(done), ckpt, steps, every)
            want = experiment.pending_evals(done, ckpt, steps, every)
            try:
                got = [int(s) for s in got]
            except TypeError:
                raise AssertionError(f"{name} should return a list of steps, got {got!r}") from None
            if got == want:
                continue
            args = f"{name}(done={done}, ckpt_step={ckpt}, steps={steps}, eval_every={every})"
            if sorted(got) == want:
                _fail(f"{args} = {got}: right steps, wrong order; training only moves forward.")
            if want == [] and got:
                _fail(f"{args} = {got}, expected []: {what}. Re-running it must train and evaluate nothing more.")
            if steps in want and steps not in got:
                _fail(f"{args} = {got}, expected {want}: the last step is always evaluated, even when "
                      "steps is not a multiple of eval_every (the final model is the one you keep).")
            if ckpt in want and ckpt not in got:
                _fail(f"{args} = {got}, expected {want}: {what}. The checkpoint of step {ckpt} exists but "
                      "its evaluation is missing: redo it (training to that step trains nothing).")
            if any(t < ckpt for t in got):
                _fail(f"{args} = {got}, expected {want}: steps before the checkpoint ({ckpt}) cannot be "
                      "evaluated any more: those weights were overwritten.")
            if any(t in done for t in got):
                _fail(f"{args} = {got}, expected {want}: some of these are already in eval.json; "
                      "evaluating them again would duplicate points on the curve.")
            _fail(f"{args} = {got}, expected {want} ({what}).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: right on {len(_pending_cases(n_random, seed))} restart scenarios (fresh, finished, "
          "lost evaluation, mid-chunk checkpoint).")
    return True


# ---------------------------------------------------------------- exercise 3: equal compute
def _time_cases(seed: int):
    rng = random.Random(seed)
    cases = []
    for _ in range(12):
        n = rng.randint(2, 8)
        t, evals = 0.0, []
        for i in range(n):
            t += rng.uniform(1.0, 100.0)
            evals.append({"step": 1000 * (i + 1), "value": rng.uniform(10.0, 200.0), "train_seconds": round(t, 3)})
        lo, hi = evals[0]["train_seconds"], evals[-1]["train_seconds"]
        queries = [rng.uniform(lo, hi) for _ in range(5)] + [lo, hi, evals[n // 2]["train_seconds"]]
        queries += [lo - 1.0, hi + 1.0]
        shuffled = evals[:]
        rng.shuffle(shuffled)
        cases.append((shuffled, queries))
    return cases


def check_fid_at_time(fn, seed: int = 0) -> bool:
    """``fn(evals, seconds)`` must return the metric at ``seconds`` of training time, linearly
    interpolated between the two evaluations around it (``evals``: dicts with "train_seconds" and
    "value", in any order), and ``nan`` outside the measured range (no extrapolation)."""
    name = "fid_at_time"
    try:
        for evals, queries in _time_cases(seed):
            for s in queries:
                got = _call(fn, [dict(e) for e in evals], s)
                want = experiment.fid_at_time(evals, s)
                try:
                    got = float(got)
                except (TypeError, ValueError):
                    raise AssertionError(f"{name} should return a number, got {got!r}") from None
                if math.isnan(want):
                    if not math.isnan(got):
                        _fail(f"{name}: at {s:.2f} s, outside the measured range "
                              f"[{min(e['train_seconds'] for e in evals):.2f}, {max(e['train_seconds'] for e in evals):.2f}] s, "
                              f"you returned {got:.4g}; return float('nan'): a GAN's curve cannot be extrapolated.")
                    continue
                if abs(got - want) <= 1e-6 * max(1.0, abs(want)):
                    continue
                if any(abs(got - e["value"]) <= 1e-9 for e in evals):
                    _fail(f"{name}: at {s:.2f} s you returned the value of one evaluation ({got:.4g}); "
                          f"interpolate linearly between its neighbours (expected {want:.4g}).")
                if abs(_naive_in_given_order(evals, s) - got) < 1e-9 or math.isnan(got):
                    _fail(f"{name}: the evaluations are not sorted by time; sort them first (expected {want:.4g} "
                          f"at {s:.2f} s, got {got:.4g}).")
                _fail(f"{name}: at {s:.2f} s expected {want:.6g}, got {got:.6g}. Find the two evaluations "
                      "t0 <= s <= t1 and return v0 + (v1 - v0) * (s - t0) / (t1 - t0).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: interpolates correctly on {len(_time_cases(seed))} random logs (unsorted, ends, "
          "outside the range).")
    return True


def _naive_in_given_order(evals, s):
    for a, b in zip(evals, evals[1:]):
        t0, t1 = a["train_seconds"], b["train_seconds"]
        if t0 <= s <= t1 and t1 != t0:
            return a["value"] + (b["value"] - a["value"]) * (s - t0) / (t1 - t0)
    return float("nan")
