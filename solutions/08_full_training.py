"""Reference solutions to the exercises of notebooks/08_full_training.ipynb.

Each function has the name and signature of the notebook's stub; paste it over the stub (or
``%run ../solutions/08_full_training.py`` in the notebook) and its check passes.
tests/test_exercises_nb08.py runs every one of them through its check in CI.
"""
import json
import os
import tempfile
from pathlib import Path


def write_json_atomic(obj, path):
    """Exercise 1: serialise first (a TypeError leaves everything untouched), write a temporary
    file in the same folder, then rename it over ``path``: os.replace is atomic on one file
    system, so a reader (or a resumed run) sees the old file or the new one, never half of one."""
    path = Path(path)
    text = json.dumps(obj)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):      # only when something failed before the rename
            os.remove(tmp)
    return path


def pending_evals(done, ckpt_step, steps, eval_every):
    """Exercise 2: the evaluation targets (every eval_every steps, and the last step) that are not
    done yet and not before the checkpoint (earlier weights are gone)."""
    targets = sorted(set(range(eval_every, steps + 1, eval_every)) | {steps})
    done = set(done)
    return [t for t in targets if t >= ckpt_step and t not in done]


def fid_at_time(evals, seconds):
    """Exercise 3: linear interpolation of the metric in training time; nan outside the range."""
    pts = sorted((e["train_seconds"], e["value"]) for e in evals)
    if not pts or seconds < pts[0][0] or seconds > pts[-1][0]:
        return float("nan")
    for (t0, v0), (t1, v1) in zip(pts, pts[1:]):
        if t0 <= seconds <= t1:
            return v0 if t1 == t0 else v0 + (v1 - v0) * (seconds - t0) / (t1 - t0)
    return pts[-1][1]    # a single evaluation, queried at its own time
