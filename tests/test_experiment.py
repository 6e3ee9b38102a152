"""The experiment driver of notebook 08 (gan_utils.experiment).

Tiny synthetic runs (a few steps of width-8 models, a cheap pixel-statistics extractor) that are
interrupted and resumed: eval.json must stay consistent, best.pt must follow the best value, and
the numbers must not depend on where the run was cut.
"""
import json
from pathlib import Path

import pytest
import torch

from gan_utils import experiment
from gan_utils.checkpoint import load_checkpoint, load_generator
from gan_utils.config import build_run

ROOT = Path(__file__).resolve().parents[1]
TINY = {"model": "dcgan", "loss": "bce-ns", "dataset": "synthetic", "image_size": 32, "width": 8,
        "batch_size": 16, "steps": 6, "eval_every": 2, "n_eval": 64, "n_ref": 128, "log_every": 1,
        "sample_every": 0, "ckpt_every": 0, "features": "pixels", "seed": 3}


def _run(out, **kw):
    return experiment.run_experiment(dict(TINY), out, progress=False, verbose=False, **kw)


class Interrupt(Exception):
    pass


def _evals(out):
    return json.loads((Path(out) / "eval.json").read_text())["evals"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted tiny run, shared by the tests that compare against it."""
    torch.manual_seed(0)
    return _run(tmp_path_factory.mktemp("ref") / "a")


def test_fresh_run_writes_log_best_and_resume_of_a_finished_run_trains_nothing(reference):
    r = reference
    tmp_path = r.out_dir.parent
    assert r.steps == [2, 4, 6] and r.trained_steps == 6
    log = json.loads((tmp_path / "a" / "eval.json").read_text())
    assert [e["step"] for e in log["evals"]] == [2, 4, 6]
    assert all(e["protocol"] == r.protocol and "FD-pixels" in e["protocol"] for e in log["evals"])
    assert load_checkpoint(tmp_path / "a" / "best.pt")["eval"]["step"] == r.best["step"]
    # guards against: re-running a finished run (the notebook re-executed) training or evaluating again
    again = _run(tmp_path / "a")
    assert again.trained_steps == 0 and again.evals == r.evals and again.G_ema is not None


def test_interrupted_during_training_then_resumed_equals_uninterrupted(tmp_path, reference):
    ref = reference

    def boom(info):
        if info["step"] == 5:
            raise Interrupt  # a Colab disconnect in the middle of the last chunk

    with pytest.raises(Interrupt):
        _run(tmp_path / "cut", callback=boom)
    assert [e["step"] for e in _evals(tmp_path / "cut")] == [2, 4]
    assert load_checkpoint(tmp_path / "cut" / "checkpoint_latest.pt")["step"] == 4
    resumed = _run(tmp_path / "cut")
    assert resumed.trained_steps == 2
    # guards against: a resume that restarts, skips or duplicates evaluations, or drifts numerically
    assert [(e["step"], e["value"]) for e in resumed.evals] == [(e["step"], e["value"]) for e in ref.evals]
    for a, b in zip(resumed.G_ema.state_dict().values(), ref.G_ema.state_dict().values()):
        assert torch.equal(a, b)


def test_evaluation_lost_between_checkpoint_and_log_is_redone(tmp_path, monkeypatch, reference):
    ref = reference
    real_evaluate = experiment.evaluate
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Interrupt  # checkpoint of step 4 written, its evaluation not
        return real_evaluate(*a, **k)

    monkeypatch.setattr(experiment, "evaluate", flaky)
    with pytest.raises(Interrupt):
        _run(tmp_path / "cut")
    assert [e["step"] for e in _evals(tmp_path / "cut")] == [2]
    monkeypatch.setattr(experiment, "evaluate", real_evaluate)
    resumed = _run(tmp_path / "cut")
    assert [(e["step"], e["value"]) for e in resumed.evals] == [(e["step"], e["value"]) for e in ref.evals]


def test_best_checkpoint_follows_the_lowest_value(tmp_path, monkeypatch):
    values = iter([5.0, 3.0, 4.0])
    monkeypatch.setattr(experiment, "evaluate",
                        lambda *a, **k: {"value": next(values), "metric": "FD-test", "protocol": "scripted"})
    r = _run(tmp_path / "b")
    assert r.best == r.evals[1] and r.best["step"] == 4
    best = load_checkpoint(tmp_path / "b" / "best.pt")
    # guards against: best.pt overwritten by a later, worse checkpoint
    assert best["step"] == 4 and best["eval"]["value"] == 3.0
    assert load_checkpoint(tmp_path / "b" / "checkpoint_latest.pt")["step"] == 6
    assert load_generator(tmp_path / "b" / "best.pt").config["channels"] == 3


def test_chunked_training_is_bit_exact_with_one_plain_run(reference):
    # guards against: evaluation between chunks disturbing training (RNG, BatchNorm statistics, data order)
    from gan_utils.runtime import seed_everything
    from gan_utils.train import train

    r = reference
    seed_everything(TINY["seed"])
    G, D, loader, cfg = build_run(dict(TINY))
    plain = train(G, D, loader, cfg, progress=False)
    for a, b in zip(r.G_ema.state_dict().values(), plain.G_ema.state_dict().values()):
        assert torch.equal(a, b)


def test_changed_evaluation_settings_are_refused(reference):
    with pytest.raises(ValueError, match="other evaluation settings"):
        experiment.run_experiment({**TINY, "steps": 8, "n_eval": 32}, reference.out_dir, progress=False,
                                  verbose=False)


def test_pending_evals_and_fid_at_time():
    assert experiment.eval_targets(10, 4) == [4, 8, 10]
    assert experiment.pending_evals([], 0, 10, 4) == [4, 8, 10]
    assert experiment.pending_evals([4], 8, 10, 4) == [8, 10]          # step 8 saved, not evaluated
    assert experiment.pending_evals([4, 8, 10], 10, 10, 4) == []       # finished
    assert experiment.pending_evals([4], 6, 10, 4) == [8, 10]           # periodic checkpoint mid-chunk
    evals = [{"step": 1, "value": 10.0, "train_seconds": 0.0}, {"step": 2, "value": 6.0, "train_seconds": 4.0}]
    assert experiment.fid_at_time(evals, 1.0) == 9.0
    assert experiment.fid_at_time(evals, 5.0) != experiment.fid_at_time(evals, 5.0)  # nan outside


