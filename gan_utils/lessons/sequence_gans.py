"""The lesson helpers of notebooks/13_sequence_gans.ipynb (the models, losses and trainings are in the
library, :mod:`gan_utils.sequence`).

Four parts:

- **Three ways through a sample** (section 1): a one-token toy, ``J(theta) = E_{y ~ softmax(theta)} r(y)``
  with ``r(y) = sigmoid(w . y)`` (a tiny "discriminator"), whose gradient is known exactly, and the
  estimators a sequence GAN can use -- REINFORCE with and without a baseline, the Gumbel-softmax
  relaxation at several temperatures, its straight-through version, and the plain softmax relaxation --
  measured for bias and spread (:func:`toy_estimators`).
- **The oracle experiment** (sections 2-3): :func:`run_seed` trains, for one seed, the MLE model (whose
  state at ``mle_steps`` pre-trains both GANs), SeqGAN and the Gumbel-softmax GAN, all with
  :func:`gan_utils.loop.run_loop`, and measures them; :func:`run_experiments` does it for several seeds
  and returns the record that scripts/record_sequence_gans.py writes to docs/sequence_gans_record.json.
- **Exposure bias** (section 4): :func:`exposure_bias`, the oracle's per-position NLL of the model's
  tokens when the model reads its own prefixes (free-running) and when it reads the oracle's
  (teacher-forced).
- **The quality-diversity curve** (section 5, [Caccia2020]): :func:`temperature_sweep` and
  :func:`curve_gap`, where a GAN's (NLL-test, NLL-oracle) point lies relative to the MLE model's
  temperature curve; :func:`record_sentences` writes the notebook's sentences quoting the record.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from .. import sequence as S
from ..loop import run_loop
from .records import fmt_stat, load_json_record, sentence_markers, stats, versus_sentence

# ============================================================================ section 1: the toy
#: the toy's logits and D-weights: five tokens, one of them (index 3) the one D likes most
TOY_THETA = (0.3, -1.2, 0.8, 0.0, 2.0)
TOY_W = (1.0, 0.2, -0.5, 3.0, 0.7)


def toy_objective_gradient(theta=TOY_THETA, w=TOY_W) -> torch.Tensor:
    """The exact gradient of ``J(theta) = sum_k p_k sigmoid(w_k)``: ``p * (r - p.r)``, ``r = sigmoid(w)``."""
    th, r = torch.tensor(theta, dtype=torch.float64), torch.sigmoid(torch.tensor(w, dtype=torch.float64))
    p = torch.softmax(th, 0)
    return p * (r - (p * r).sum())


def _toy_samples(name: str, theta: torch.Tensor, w: torch.Tensor, n: int, g: torch.Generator, tau: float):
    """``n`` one-sample estimates ``(n, K)`` of d J / d theta by the estimator ``name``."""
    K = theta.numel()
    p = torch.softmax(theta, 0)
    r = torch.sigmoid(w)
    if name in ("REINFORCE", "REINFORCE + baseline"):
        y = torch.multinomial(p, n, replacement=True, generator=g)             # (n,) tokens
        b = (p * r).sum() if name.endswith("baseline") else 0.0                # the exact mean reward
        return (r[y] - b)[:, None] * (F.one_hot(y, K).double() - p)            # (r_y - b) grad log p_y
    th = theta.expand(n, K).clone().requires_grad_(True)                        # one copy per sample
    if name == "softmax relaxation":                                           # no sampling: D reads p itself
        y = torch.softmax(th, 1)
    else:
        u = torch.rand(n, K, generator=g, dtype=torch.float64).clamp_min(1e-300)
        y_soft = torch.softmax((th - torch.log(-torch.log(u))) / tau, 1)       # Gumbel-softmax sample
        if name.startswith("straight-through"):
            y_hard = F.one_hot(y_soft.argmax(1), K).double()
            y = y_hard - y_soft.detach() + y_soft                              # forward: one-hot; backward: soft
        else:
            y = y_soft
    (grad,) = torch.autograd.grad(torch.sigmoid(y @ w).sum(), th)              # each row: its own sample's gradient
    return grad


#: the estimators of section 1 and the Gumbel temperature each uses (None: no temperature)
TOY_ESTIMATORS = (("REINFORCE", None), ("REINFORCE + baseline", None), ("Gumbel-softmax", 0.1),
                  ("Gumbel-softmax", 0.5), ("Gumbel-softmax", 1.0), ("Gumbel-softmax", 2.0),
                  ("straight-through Gumbel", 1.0), ("softmax relaxation", None))


def toy_estimators(n: int = 20_000, seed: int = 0, theta=TOY_THETA, w=TOY_W, estimators=TOY_ESTIMATORS) -> list:
    """Bias and spread of every estimator of :data:`TOY_ESTIMATORS` over ``n`` one-sample estimates:
    ``bias`` = |mean estimate - exact| / |exact| (with the standard error of that mean, ``bias_se``, as
    a relative norm), ``spread`` = the root of the summed per-component variances / |exact|. Returns a
    list of dicts."""
    th, wt = torch.tensor(theta, dtype=torch.float64), torch.tensor(w, dtype=torch.float64)
    exact = toy_objective_gradient(theta, w)
    norm = float(exact.norm())
    rows = []
    for i, (name, tau) in enumerate(estimators):
        g = torch.Generator().manual_seed(seed * 1000 + i)
        est = _toy_samples(name, th, wt, n, g, tau)
        mean = est.mean(0)
        var = est.var(0) if n > 1 else torch.zeros_like(mean)
        rows.append({"estimator": name, "tau": tau, "bias": float((mean - exact).norm()) / norm,
                     "bias_se": float(torch.sqrt(var.sum() / n)) / norm,
                     "spread": float(torch.sqrt(var.sum())) / norm, "n": n})
    return rows


# ============================================================================ sections 4-5: measurements
@torch.no_grad()
def exposure_bias(oracle: S.OracleLSTM, model: S.LSTMGenerator, real: torch.Tensor, n: int = 2000,
                  seed: int = 0) -> dict:
    """Per position ``t`` (arrays of ``seq_len``), the oracle's NLL (nats) of

    * ``free``: the model's own samples, each token chosen after the model's *own* earlier tokens;
    * ``teacher``: the model's token at ``t`` chosen after the *oracle's* tokens ``x_1..x_{t-1}`` of a
      real sequence (teacher forcing, as in training): ``-log O(yhat_t | x_<t)``, ``yhat_t ~ G(. | x_<t)``;
    * ``oracle``: the real tokens themselves, ``-log O(x_t | x_<t)`` (the oracle's own entropy, the floor).

    At ``t = 1`` both read the same (empty) prefix, so ``free`` and ``teacher`` agree up to sampling noise;
    a ``free`` curve that climbs above ``teacher`` along the sequence is exposure bias [Ranzato2016]."""
    g = torch.Generator().manual_seed(int(seed))
    y = model.sample(n, generator=g)
    free = -oracle.token_log_probs(y).mean(0)                                       # (T,)
    x = real[:n]
    probs = torch.softmax(model(x).double(), -1)                                    # G(. | x_<t): (n, T, V)
    yhat = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=g).view(x.shape)
    o_logp = torch.log_softmax(oracle(x).double(), -1)                              # O(. | x_<t)
    teacher = -o_logp.gather(-1, yhat.unsqueeze(-1)).squeeze(-1).mean(0)
    floor = -o_logp.gather(-1, x.unsqueeze(-1)).squeeze(-1).mean(0)
    return {"free": free.tolist(), "teacher": teacher.tolist(), "oracle": floor.tolist(), "n": int(n)}


#: the temperatures of the quality-diversity curve (section 5)
TEMPERATURES = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.1, 1.25)


def temperature_sweep(oracle: S.OracleLSTM, model: S.LSTMGenerator, test: torch.Tensor,
                      temperatures=TEMPERATURES, n: int = 2000, seed: int = 0) -> dict:
    """NLL-oracle (quality, per token) and NLL-test (diversity, per token) of ``model`` sampled at each
    temperature: lower temperature sharpens every next-token distribution [Caccia2020]."""
    out = {"temperature": [float(t) for t in temperatures], "nll_oracle": [], "nll_test": []}
    for t in temperatures:
        out["nll_oracle"].append(S.nll_oracle(oracle, model, n, seed=seed, temperature=float(t)).per_token)
        out["nll_test"].append(S.nll_test(model, test, temperature=float(t)).per_token)
    return out


def curve_gap(sweep: dict, point: dict) -> Optional[float]:
    """Where ``point`` (``{"nll_test", "nll_oracle"}``, per token) lies relative to an MLE model's
    quality-diversity curve ``sweep``: the point's NLL-test minus the curve's at the **same NLL-oracle**
    (interpolated linearly along the temperatures; NLL-oracle rises with the temperature). Negative: the
    point is more diverse than the MLE model at equal quality, i.e. below-left of the curve, better;
    positive: worse. None when the point's NLL-oracle is outside the sweep's range."""
    pairs = sorted(zip(sweep["nll_oracle"], sweep["nll_test"]))
    ys, xs = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    if not ys[0] <= point["nll_oracle"] <= ys[-1]:
        return None
    return float(point["nll_test"] - np.interp(point["nll_oracle"], ys, xs))


# ============================================================================ the experiment
#: sizes of the record (scripts/record_sequence_gans.py), of the notebook's live run and of a smoke run
FULL_SIZES = dict(seeds=(0, 1, 2), mle_steps=3000, mle_extra=3000, rounds=450, eval_every_mle=250,
                  eval_every_rounds=25, final_samples=10_000, sweep_samples=5000, exposure_samples=5000)
LIVE_SIZES = dict(seeds=(0,), mle_steps=2000, mle_extra=1000, rounds=200, eval_every_mle=250,
                  eval_every_rounds=25, final_samples=5000, sweep_samples=2000, exposure_samples=2000)
SMOKE_SIZES = dict(seeds=(0,), mle_steps=20, mle_extra=10, rounds=4, eval_every_mle=10, eval_every_rounds=2,
                   final_samples=200, sweep_samples=100, exposure_samples=100)
#: the experiment's settings (the record's: SequenceGANConfig's defaults), and the smoke test's
CONFIG = S.SequenceGANConfig()
SMOKE_CONFIG = S.SequenceGANConfig(vocab_size=8, seq_len=6, oracle_hidden=16, n_train=512, n_test=256,
                                   hidden_dim=16, d_filter_sizes=(1, 2, 3, 6), d_num_filters=4, batch_size=32,
                                   d_pretrain=2, d_samples=64, n_rollouts=2, eval_samples=200)
ARMS = ("mle", "mle_slow", "seqgan", "gumbel")
GENERATORS = ("mle_pretrained", "mle", "mle_slow", "seqgan", "gumbel")
LABELS = {"mle_pretrained": "MLE (pre-trained: the GANs' start)", "mle": "MLE (trained on)",
          "mle_slow": "MLE at the GANs' rate (the control)", "seqgan": "SeqGAN", "gumbel": "Gumbel-softmax GAN"}


def _final(oracle, G, test, n, seed) -> dict:
    q = S.nll_oracle(oracle, G, n, seed=seed)
    d = S.nll_test(G, test)
    return {"nll_oracle": q.per_token, "nll_oracle_sem": q.sem_per_sequence / G.seq_len,
            "nll_test": d.per_token, "nll_test_sem": d.sem_per_sequence / G.seq_len}


def run_seed(cfg: S.SequenceGANConfig, seed: int, sizes: dict, data: Optional[S.OracleData] = None,
             progress: bool = True, log: Callable = print, keep_models: bool = False) -> dict:
    """One seed of the oracle experiment (the seed sets G's and D's initial weights and every training
    draw; the oracle and its data are ``cfg``'s):

    1. MLE on S for ``mle_steps + mle_extra`` steps (``MLETask``); its G at ``mle_steps`` is kept;
    2. SeqGAN (``SeqGANTask``) and the Gumbel-softmax GAN (``GumbelGANTask``) from that G, ``rounds``
       rounds each (the first ``cfg.d_pretrain`` train D only): the same G, D, batch and rounds;
    3. the control (``"mle_slow"``): MLE from that G at the GANs' learning rate ``cfg.lr_g``, for as many
       steps as the GANs take G steps, so that a GAN's gain is not merely a smaller learning rate;
    4. final NLL-oracle (``final_samples`` sequences) and NLL-test of the five generators, the temperature
       sweeps of the three MLE generators, exposure bias of the trained-on MLE generator.

    Every training runs in :func:`gan_utils.loop.run_loop`. Returns plain data (JSON), and with
    ``keep_models`` also ``"models"``: the four generators and the two discriminators (not JSON)."""
    cfg = replace(cfg, seed=int(seed))
    data = data if data is not None else S.make_oracle_data(cfg)
    z = sizes
    t_seed = time.perf_counter()
    # 1. MLE, keeping G at mle_steps (the callback runs at every log flush: mle_steps is one)
    mle = S.MLETask(cfg, data)
    mle.snapshot(0, None)
    kept = {}

    def keep(info):
        if info["step"] == z["mle_steps"]:
            kept["G"] = copy.deepcopy(mle.G.state_dict())
            kept["seconds"] = mle.seconds

    gcd = math.gcd(z["mle_steps"], z["eval_every_mle"])
    run_loop(mle, z["mle_steps"] + z["mle_extra"], log_every=gcd, sample_every=z["eval_every_mle"],
             progress=progress, callback=keep, desc=f"seed {seed}: MLE")
    pretrained = cfg.make_generator()
    pretrained.load_state_dict(kept["G"])
    out = {"seed": int(seed), "mle_steps": int(z["mle_steps"]), "mle": {"curve": mle.curve, "seconds": mle.seconds, "pretrain_seconds": kept["seconds"]}}
    # 2. the two GANs from the pre-trained G
    for arm, cls in (("seqgan", S.SeqGANTask), ("gumbel", S.GumbelGANTask)):
        task = cls(cfg, data, generator_state=kept["G"])
        task.snapshot(0, None)
        r = run_loop(task, z["rounds"], log_every=min(10, z["eval_every_rounds"]), sample_every=z["eval_every_rounds"],
                     progress=progress, desc=f"seed {seed}: {arm}")
        out[arm] = {"curve": task.curve, "seconds": task.seconds,
                    "history_every_10": {k: v[::10] for k, v in r.history.items()}}
        out[arm]["_G"], out[arm]["_D"] = task.G, task.D
    # 3. the control: MLE at the GANs' rate, as many steps as they take G steps
    slow = S.MLETask(replace(cfg, lr_mle=cfg.lr_g), data, generator_state=kept["G"])
    slow.snapshot(0, None)
    run_loop(slow, z["rounds"] - cfg.d_pretrain, log_every=min(10, z["eval_every_rounds"]),
             sample_every=z["eval_every_rounds"], progress=progress, desc=f"seed {seed}: MLE at lr_g")
    out["mle_slow"] = {"curve": slow.curve, "seconds": slow.seconds}
    # 4. measurements
    gens = {"mle_pretrained": pretrained, "mle": mle.G, "mle_slow": slow.G, "seqgan": out["seqgan"].pop("_G"),
            "gumbel": out["gumbel"].pop("_G")}
    discs = {f"{arm}_D": out[arm].pop("_D") for arm in ("seqgan", "gumbel")}
    fs = cfg.eval_seed + 7
    out["final"] = {k: _final(data.oracle, G, data.test, z["final_samples"], fs) for k, G in gens.items()}
    out["sweep"] = {k: temperature_sweep(data.oracle, gens[k], data.test, n=z["sweep_samples"], seed=fs)
                    for k in ("mle_pretrained", "mle", "mle_slow")}
    out["exposure"] = exposure_bias(data.oracle, mle.G, data.test, z["exposure_samples"], seed=fs)
    out["wall_seconds"] = time.perf_counter() - t_seed
    if keep_models:
        out["models"] = {**gens, **discs}
    if progress:
        log(f"seed {seed} ({out['wall_seconds']:.0f} s): " + ", ".join(
            f"{k} NLL-oracle {v['nll_oracle']:.3f} NLL-test {v['nll_test']:.3f}" for k, v in out["final"].items()))
    return out


def run_experiments(cfg: S.SequenceGANConfig = CONFIG, sizes: Optional[dict] = None, progress: bool = True,
                    log: Callable = print, on_seed: Optional[Callable[[dict], None]] = None) -> dict:
    """Every seed of ``sizes`` (default :data:`FULL_SIZES`) with :func:`run_seed` on the same oracle and
    data; returns the record (``on_seed(record)`` after each seed: the script writes it, so a crash keeps
    what was done)."""
    z = {**FULL_SIZES, **(sizes or {})}
    data = S.make_oracle_data(cfg)
    ent = S.nll_oracle(data.oracle, data.oracle, z["final_samples"], seed=cfg.eval_seed + 7)
    record = {"config": _plain(asdict(cfg)), "sizes": _plain(z), "data": data.describe(),
              "oracle": {"entropy_per_token": ent.per_token, "entropy_sem": ent.sem_per_sequence / cfg.seq_len,
                         "uniform_per_token": math.log(cfg.vocab_size)},
              "seeds": [], "runs": []}
    for seed in z["seeds"]:
        record["runs"].append(run_seed(cfg, seed, z, data=data, progress=progress, log=log))
        record["seeds"].append(int(seed))
        record["summary"] = summarise(record)
        if on_seed is not None:
            on_seed(record)
    return record


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


#: the MLE curves a GAN's point is compared with: the GANs' starting point, and the MLE model trained on
GAPS = {"gap_to_pretrained_curve": "mle_pretrained", "gap_to_mle_curve": "mle", "gap_to_slow_curve": "mle_slow"}


def summarise(record: dict) -> dict:
    """Mean +- std over seeds of every final number (per token), of each run's training time, of the
    GANs' :func:`curve_gap` to both MLE curves and of the exposure-bias measurements. Derived from the
    runs alone (tests/test_sequence_gans_record.py recomputes it)."""
    runs = record["runs"]
    out = {}
    for k in GENERATORS:
        s = {m: stats([r["final"][k][m] for r in runs]) for m in ("nll_oracle", "nll_test")}
        if k in ("seqgan", "gumbel"):
            for gap, ref in GAPS.items():
                vals = [curve_gap(r["sweep"][ref], r["final"][k]) for r in runs]
                s[gap] = stats([v for v in vals if v is not None]) if any(v is not None for v in vals) else None
                s[gap + "_outside"] = sum(v is None for v in vals)
            s["d_accuracy"] = stats([r[k]["curve"]["d_accuracy"][-1] for r in runs])
            s["seconds"] = stats([r[k]["seconds"] for r in runs])
        elif k == "mle":
            s["seconds"] = stats([r["mle"]["seconds"] - r["mle"]["pretrain_seconds"] for r in runs])
            s["pretrain_seconds"] = stats([r["mle"]["pretrain_seconds"] for r in runs])
        elif k == "mle_slow":
            s["seconds"] = stats([r["mle_slow"]["seconds"] for r in runs])
        out[k] = s
    ex = np.array([[r["exposure"]["free"], r["exposure"]["teacher"], r["exposure"]["oracle"]] for r in runs])
    out["exposure"] = {"free_mean": stats(ex[:, 0].mean(1)), "teacher_mean": stats(ex[:, 1].mean(1)),
                       "oracle_mean": stats(ex[:, 2].mean(1)), "free_last": stats(ex[:, 0, -1]),
                       "teacher_last": stats(ex[:, 1, -1]),
                       "free_minus_teacher_mean": stats((ex[:, 0] - ex[:, 1]).mean(1)),
                       "teacher_minus_oracle_mean": stats((ex[:, 1] - ex[:, 2]).mean(1))}
    return out


# ============================================================================ figures
def generator_updates(run: dict, arm: str, cfg_d_pretrain: int) -> np.ndarray:
    """The x of a curve in generator updates: MLE steps; for a GAN, the pre-training steps plus its
    G steps (its first ``d_pretrain`` rounds train D only), so that both GANs branch off the MLE curve
    where their pre-training ended (as in [Yu2017]'s Figure 2)."""
    steps = np.asarray(run[arm]["curve"]["step"], dtype=float)
    if arm == "mle":
        return steps
    if arm == "mle_slow":                                    # every step a G update, from the branch point
        return run["mle_steps"] + steps
    return run["mle_steps"] + np.maximum(0.0, steps - cfg_d_pretrain)


def plot_training_curves(runs: list, d_pretrain: int, axes=None, title: str = ""):
    """NLL-oracle and NLL-test (per token) against generator updates for the three arms, one line per
    seed, the MLE pre-training's end dashed."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    colors = {"mle": "C0", "mle_slow": "C1", "seqgan": "C3", "gumbel": "C2"}
    for key, ax, label in (("nll_oracle", axes[0], "NLL-oracle per token (quality; lower is better)"),
                           ("nll_test", axes[1], "NLL-test per token (diversity; lower is better)")):
        for i, run in enumerate(runs):
            for arm in ARMS:
                x = generator_updates(run, arm, d_pretrain)
                ax.plot(x, run[arm]["curve"][key], "-", color=colors[arm], alpha=0.85, lw=1.3,
                        label=LABELS[arm] if i == 0 else None)
        ax.axvline(runs[0]["mle_steps"], color="k", ls="--", lw=1, label="end of MLE pre-training")
        ax.set(xlabel="generator updates (MLE steps, then G steps of the GANs)", ylabel=label,
               title=title or key.replace("_", "-").upper().replace("NLL-", "NLL-"))
        ax.legend(fontsize=8)
    return axes


def plot_quality_diversity(runs: list, ax=None, oracle_entropy: Optional[float] = None, title: str = ""):
    """[Caccia2020]'s picture on the oracle: the MLE models' temperature sweeps (NLL-test on x, NLL-oracle
    on y, both per token, lower-left is better) and the GANs' points at temperature 1, every seed."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 5.2))
    styles = {"mle_pretrained": ("C0", ":"), "mle": ("C0", "-"), "mle_slow": ("C1", "--")}
    for i, run in enumerate(runs):
        for k, (c, ls) in styles.items():
            sw = run["sweep"][k]
            ax.plot(sw["nll_test"], sw["nll_oracle"], ls, color=c, marker=".", alpha=0.8,
                    label=f"{LABELS[k]}: temperature sweep" if i == 0 else None)
            if i == 0 and k == "mle":
                for t, x, y in zip(sw["temperature"], sw["nll_test"], sw["nll_oracle"]):
                    if t in (0.5, 0.8, 1.0, 1.25):
                        ax.annotate(f"T={t:g}", (x, y), textcoords="offset points", xytext=(5, 3), fontsize=8)
        for arm, c, m in (("seqgan", "C3", "*"), ("gumbel", "C2", "s")):
            f = run["final"][arm]
            ax.plot(f["nll_test"], f["nll_oracle"], m, color=c, ms=11 if m == "*" else 7,
                    label=f"{LABELS[arm]} (temperature 1)" if i == 0 else None)
    if oracle_entropy is not None:
        ax.axvline(oracle_entropy, color="k", lw=0.8, ls="--", label="the oracle's entropy (the least NLL-test)")
        ax.axhline(oracle_entropy, color="grey", lw=0.8, ls=":", label="NLL-oracle of the oracle's own samples")
    ax.set(xlabel="NLL-test per token (diversity; lower is better)", ylabel="NLL-oracle per token (quality; lower is better)",
           title=title or "Quality against diversity: temperature sweeps and the GANs")
    ax.legend(fontsize=8)
    return ax


def plot_exposure(runs: list, ax=None, title: str = ""):
    """Per-position NLL-oracle of the trained-on MLE model's tokens, free-running vs teacher-forced, and
    the oracle's own, one line per seed."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.2))
    for i, run in enumerate(runs):
        e = run["exposure"]
        t = np.arange(1, len(e["free"]) + 1)
        ax.plot(t, e["free"], "-o", color="C3", ms=3, label="free-running: G reads its own tokens" if i == 0 else None)
        ax.plot(t, e["teacher"], "-o", color="C0", ms=3, label="teacher-forced: G reads the oracle's tokens" if i == 0 else None)
        ax.plot(t, e["oracle"], "--", color="k", lw=1, label="the oracle's own tokens (its entropy)" if i == 0 else None)
    ax.set(xlabel="position t in the sequence", ylabel="NLL-oracle of the token at t (nats)",
           title=title or "Exposure bias, measured: does G's quality fall along its own sequences?")
    ax.legend(fontsize=8)
    return ax


# ============================================================================ the record and its sentences
RECORD_NAME = "sequence_gans_record.json"
SENTENCE_MARKERS = sentence_markers("table", "verdict", "curve", "exposure")


def load_record(path=None, repo: Optional[str] = None, ref: str = "main") -> dict:
    """docs/sequence_gans_record.json (``path``, this repository's, or downloaded from GitHub ``repo``)."""
    return load_json_record(RECORD_NAME, path, repo, ref, how_to_make=(
        "Run python scripts/record_sequence_gans.py from a clone of the course (about an hour on a CPU), or set "
        "RERUN_RECORD = True in the notebook's parameters cell."))


def _f3(s: dict) -> str:
    return fmt_stat(s, 3)


def record_sentences(record: dict, part: str) -> str:
    """The markdown notebook 13 shows between ``SENTENCE_MARKERS[part]``, generated from the record
    (``python scripts/record_sequence_gans.py --write-notebook``; tests/test_sequence_gans_record.py keeps
    them equal). Every number is a mean ± std over the record's seeds, per token, in nats."""
    S_ = record["summary"]
    z, cfg = record["sizes"], record["config"]
    n = len(record["seeds"])
    g_steps = z["rounds"] - cfg["d_pretrain"]
    out = []
    if part == "table":
        out.append(f"* **{LABELS['mle_pretrained']}**, {z['mle_steps']} steps: NLL-oracle "
                   f"{_f3(S_['mle_pretrained']['nll_oracle'])}, NLL-test {_f3(S_['mle_pretrained']['nll_test'])}.")
        out.append(f"* **{LABELS['mle']}**, {z['mle_extra']} more steps at the pre-training's rate "
                   f"({fmt_stat(S_['mle']['seconds'], 0)} s): NLL-oracle {_f3(S_['mle']['nll_oracle'])}, NLL-test "
                   f"{_f3(S_['mle']['nll_test'])}.")
        out.append(f"* **{LABELS['mle_slow']}**, {g_steps} steps from the pre-trained model at the GANs' learning rate "
                   f"{cfg['lr_g']:g} ({fmt_stat(S_['mle_slow']['seconds'], 0)} s): NLL-oracle "
                   f"{_f3(S_['mle_slow']['nll_oracle'])}, NLL-test {_f3(S_['mle_slow']['nll_test'])}.")
        for arm in ("seqgan", "gumbel"):
            s = S_[arm]
            out.append(f"* **{LABELS[arm]}**, {cfg['d_pretrain']} rounds of D alone then {g_steps} rounds with a G "
                       f"step ({fmt_stat(s['seconds'], 0)} s): NLL-oracle {_f3(s['nll_oracle'])}, NLL-test "
                       f"{_f3(s['nll_test'])}; D's held-out accuracy at the end {fmt_stat(s['d_accuracy'], 3)}.")
        o = record["oracle"]
        out.append(f"* The oracle itself: NLL-oracle of its own samples {o['entropy_per_token']:.3f} (its entropy; "
                   f"no model's NLL-test can be lower); a uniform choice of token: {o['uniform_per_token']:.3f}.")
    elif part == "verdict":
        for arm in ("seqgan", "gumbel"):
            for ref in ("mle_slow", "mle"):
                for key, what in (("nll_oracle", "NLL-oracle"), ("nll_test", "NLL-test")):
                    out.append("* " + versus_sentence(LABELS[arm], LABELS[ref], S_[arm][key], S_[ref][key], what,
                                                      digits=3))
    elif part == "curve":
        for arm in ("seqgan", "gumbel"):
            s = S_[arm]
            for gap, ref in GAPS.items():
                if s[gap] is None:
                    out.append(f"* {LABELS[arm]}: its NLL-oracle lies outside the temperature sweep of {LABELS[ref]} "
                               "in every seed.")
                    continue
                side = "more diverse than it (below the curve)" if s[gap]["mean"] < 0 else "less diverse than it (above the curve)"
                below = sum(v < 0 for v in s[gap]["values"])
                extra = f"; in {s[gap + '_outside']} seed(s) outside the sweep" if s[gap + "_outside"] else ""
                out.append(f"* {LABELS[arm]} against the temperature curve of {LABELS[ref]}: at the same NLL-oracle, "
                           f"NLL-test {_f3(s[gap])} from the curve's, on average {side}; below the curve in {below} of "
                           f"{len(s[gap]['values'])} seeds{extra}.")
    elif part == "exposure":
        e = S_["exposure"]
        out.append(f"* Free-running (G reads its own tokens): per-position NLL-oracle {_f3(e['free_mean'])} on average "
                   f"over the {cfg['seq_len']} positions, {_f3(e['free_last'])} at the last one.")
        out.append(f"* Teacher-forced (G reads the oracle's tokens): {_f3(e['teacher_mean'])} on average, "
                   f"{_f3(e['teacher_last'])} at the last position.")
        out.append(f"* The oracle's own tokens: {_f3(e['oracle_mean'])} on average.")
        share = 100 * e["free_minus_teacher_mean"]["mean"] / e["teacher_minus_oracle_mean"]["mean"]
        out.append(f"* Free-running minus teacher-forced, averaged over the positions: {_f3(e['free_minus_teacher_mean'])}; "
                   f"teacher-forced minus the oracle's own: {_f3(e['teacher_minus_oracle_mean'])}. What reading its own "
                   f"prefixes adds is {share:.0f}% of the error the model makes on true prefixes.")
    else:
        raise ValueError(f"part={part!r}; use one of {sorted(SENTENCE_MARKERS)}")
    return "\n".join(out)
