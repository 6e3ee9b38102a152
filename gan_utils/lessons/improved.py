"""Salimans et al. 2016, "Improved Techniques for Training GANs", measured: the lesson helpers of
notebooks/14_improved_techniques.ipynb.

The techniques themselves live in the library (``losses.feature_matching_loss``, ``losses.d_loss_bce(...,
real_label=0.9)``, ``losses.HistoricalAverage``, ``models.MinibatchDiscrimination``,
``models.MinibatchStdDev``, ``models.VirtualBatchNorm``, the ``semisup`` module) and train through the
course's loops. Here:

- :func:`fit_pointwise_discriminator`: the optimal D under (one- or two-sided) label smoothing, found
  numerically with the library's loss on a discrete 1-D example, against the closed form;
- :data:`TOY_ARMS` / :data:`IMAGE_ARMS`: each technique alone, the paper's combination without labels, and
  the baseline, as ``(loss, TrainConfig overrides, G options, D options)``;
- :func:`run_experiments`: what scripts/record_improved.py records in docs/improved_record.json: a one-seed
  pilot that picks the historical-averaging weight, the toy tables (notebook 02's ring8 and grid25, 3 seeds),
  the Fashion-MNIST comparison (FD-classifier, precision and recall) and the semi-supervised GAN against a
  classifier trained on the labels alone (3 seeds);
- :func:`summarise`, :func:`record_sentences` (the notebook's prose quoting the record, kept equal to it by
  tests/test_improved_record.py) and the figures.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch

from .records import fmt_stat, load_json_record, sentence_markers, stats, verdict_level, welch_verdict

RECORD_NAME = "improved_record.json"
SCRIPT = "scripts/record_improved.py"


# ============================================================================ label smoothing, numerically
def fit_pointwise_discriminator(counts_data, counts_g, real_label: float = 1.0, fake_label: float = 0.0,
                                iters: int = 200) -> np.ndarray:
    """The discriminator that minimises :func:`gan_utils.losses.d_loss_bce` (with ``real_label`` and
    ``fake_label``) on a discrete 1-D example, with one free logit per point: D is as flexible as it can
    be, so the minimiser is the optimal D* of :func:`gan_utils.lessons.theory.optimal_discriminator`.

    ``counts_data[k]`` / ``counts_g[k]``: how many real / generated samples sit at point k (whole numbers);
    the real batch holds point k ``counts_data[k]`` times, so the loss's batch means are the expectations.
    Points with no sample on either side get no gradient and stay at D = 1/2. L-BFGS in float64; returns
    D(x_k) = sigmoid(logit_k)."""
    from ..losses import d_loss_bce

    cd = torch.as_tensor(np.asarray(counts_data), dtype=torch.long)
    cg = torch.as_tensor(np.asarray(counts_g), dtype=torch.long)
    if cd.shape != cg.shape or cd.dim() != 1 or (cd < 0).any() or (cg < 0).any() or cd.sum() == 0 or cg.sum() == 0:
        raise ValueError("counts_data and counts_g must be two equally long lists of whole numbers >= 0, each with "
                         "at least one sample")
    where = torch.arange(len(cd))
    real_idx, fake_idx = where.repeat_interleave(cd), where.repeat_interleave(cg)   # the samples' positions
    logit = torch.zeros(len(cd), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([logit], lr=1.0, max_iter=iters, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = d_loss_bce(logit[real_idx], logit[fake_idx], real_label=real_label, fake_label=fake_label)
        loss.backward()
        return loss

    opt.step(closure)
    return torch.sigmoid(logit.detach()).numpy()


# ============================================================================ historical averaging on the paper's toy game
def averaging_game(weight: float = 0.0, steps: int = 20000, lr: float = 0.01, start=(0.5, 2.0)) -> np.ndarray:
    """The low-dimensional game of Salimans et al. 2016, section 3.3: x minimises and y maximises

        V(x, y) = (f(x) - 1)(y - 1),   f(x) = x for x < 0, x^2 otherwise,

    whose equilibrium is (1, 1). Simultaneous gradient steps of size ``lr`` from ``start``, each player's cost
    plus ``weight`` times its historical-averaging penalty (:class:`gan_utils.losses.HistoricalAverage`; 0 =
    plain gradient descent). float64, deterministic. Returns the ``(steps + 1, 2)`` trajectory of (x, y)."""
    from ..losses import HistoricalAverage

    px, py = torch.nn.Module(), torch.nn.Module()
    px.v = torch.nn.Parameter(torch.tensor(float(start[0]), dtype=torch.float64))
    py.v = torch.nn.Parameter(torch.tensor(float(start[1]), dtype=torch.float64))
    hx, hy = HistoricalAverage(px), HistoricalAverage(py)
    out = [(float(start[0]), float(start[1]))]
    for _ in range(steps):
        x, y = px.v, py.v
        fx = torch.where(x < 0, x, x * x)
        value = (fx - 1) * (y - 1)
        cost_x, cost_y = value, -value                       # x minimises V, y maximises it
        if weight > 0:
            hx.update(px)
            hy.update(py)
            cost_x = cost_x + weight * hx.penalty(px)        # + w ||x - mean of x's past values||^2
            cost_y = cost_y + weight * hy.penalty(py)
        (gx,) = torch.autograd.grad(cost_x, x, retain_graph=True)   # each player: its own cost, its own variable
        (gy,) = torch.autograd.grad(cost_y, y)
        with torch.no_grad():                                # simultaneous steps: both from the same point
            x -= lr * gx
            y -= lr * gy
        out.append((float(x.detach()), float(y.detach())))
    return np.array(out)


# ============================================================================ the techniques as arms
@dataclass(frozen=True)
class Arm:
    """One technique (or a combination): the loss, TrainConfig overrides, generator and discriminator options."""
    name: str
    loss: str = "bce-ns"
    overrides: dict = field(default_factory=dict)
    g_options: dict = field(default_factory=dict)
    d_options: dict = field(default_factory=dict)
    source: str = ""

    def config(self, **common):
        from ..train import TrainConfig

        return TrainConfig.preset(self.loss, **{**common, **self.overrides})

    def as_dict(self) -> dict:
        return {"loss": self.loss, "overrides": dict(self.overrides), "g_options": dict(self.g_options),
                "d_options": dict(self.d_options), "source": self.source}


#: historical averaging's weight w (the paper gives none): the best of HA_PILOT_WEIGHTS in a one-seed ring8
#: pilot (seed PILOT_SEED, not one of the table's seeds); tests/test_improved_record.py keeps it equal to the
#: record's pilot, and run_experiments gives the arms the pilot's best whatever this says
HA_WEIGHT = 0.1
HA_PILOT_WEIGHTS = (0.001, 0.01, 0.1)
PILOT_SEED = 10
#: one-sided label smoothing's target for reals (Salimans et al. 2016, section 3.4)
REAL_LABEL = 0.9
#: minibatch discrimination on the toys: fewer kernels than the paper's 100 (the layer's cost grows with
#: batch^2 x kernels x dims, and the toy batch is 128); on images the authors' 100 kernels of 5 dimensions
TOY_MBD = {"minibatch": "discrimination", "mbd_features": 16, "mbd_kernel_dims": 5}
IMAGE_MBD = {"minibatch": "discrimination", "mbd_features": 100, "mbd_kernel_dims": 5}


def _arms(mbd: dict, ha_weight: float, toy: bool) -> dict:
    arms = [
        Arm("baseline", "bce-ns", {}, {}, {}, "the non-saturating GAN (notebook 01)" + ("" if toy else ", DCGAN as in notebook 04")),
        Arm("feature matching", "feature-matching", {}, {}, {}, "[Salimans2016] sec. 3.1: G matches E f(x), f = D's last hidden layer"),
        Arm("minibatch discrimination", "bce-ns", {}, {}, dict(mbd), "[Salimans2016] sec. 3.2"),
        Arm("minibatch stddev", "bce-ns", {}, {}, {"minibatch": "stddev"}, "[Karras2018] sec. 3, the parameter-free successor"),
        Arm("historical averaging", "bce-ns", {"hist_avg_weight": ha_weight}, {}, {},
            f"[Salimans2016] sec. 3.3, weight {ha_weight:g} (a pilot's choice)"),
        Arm("label smoothing", "bce-ns", {"real_label": REAL_LABEL}, {}, {}, "[Salimans2016] sec. 3.4, one-sided, 0.9"),
        Arm("virtual BN", "bce-ns", {}, {"norm": "virtual"}, {}, "[Salimans2016] sec. 3.5, in G"
            + (" (the toy G has no normalisation otherwise)" if toy else " instead of BatchNorm")),
    ]
    if toy:
        arms.append(Arm("BatchNorm G", "bce-ns", {}, {"norm": "batch"}, {}, "the control of virtual BN: plain BatchNorm in G"))
    else:
        arms = [a for a in arms if a.name != "historical averaging"]   # at image scale only inside the combination
    arms.append(Arm("combination", "bce-ns", {"hist_avg_weight": ha_weight, "real_label": REAL_LABEL},
                    {"norm": "virtual"}, dict(mbd),
                    "the paper's recipe without labels (Table 3, '-L+HA'): minibatch discrimination, virtual BN, "
                    "one-sided label smoothing, historical averaging"))
    return {a.name: a for a in arms}


def toy_arms(ha_weight: float = HA_WEIGHT) -> dict:
    return _arms(TOY_MBD, ha_weight, toy=True)


def image_arms(ha_weight: float = HA_WEIGHT) -> dict:
    return _arms(IMAGE_MBD, ha_weight, toy=False)


TOY_ARMS = toy_arms()
IMAGE_ARMS = image_arms()

#: sizes of a full record (scripts/record_improved.py) and of a smoke run (CI: seconds)
FULL_SIZES = dict(seeds=(0, 1, 2), toys=("ring8", "grid25"), toy_steps={"ring8": 2000, "grid25": 3000},
                  toy_batch=128, toy_hidden=128, toy_depth=3, toy_samples=2500, toy_snapshots=10,
                  image_steps=1000, image_width=16, image_batch=64, fd_n=2000, fd_seed=12345,
                  ssl_steps=3000, ssl_eval_every=250)
SMOKE_SIZES = dict(seeds=(0,), toys=("ring8",), toy_steps={"ring8": 6}, toy_batch=32, toy_hidden=16, toy_depth=2,
                   toy_samples=200, toy_snapshots=2, image_steps=3, image_width=8, image_batch=32, fd_n=128,
                   fd_seed=12345, ssl_steps=3, ssl_eval_every=3)


# ============================================================================ the toy tables
def run_toy_arm(arm: Arm, toy: str, seed: int, sizes: dict, progress: bool = False, keep_samples: int = 0,
                device="cpu") -> dict:
    """One toy run (notebook 02's MLPs and mode-coverage score, :func:`gan_utils.lessons.toys.train_toy`):
    the raw and the EMA generator's modes covered and high-quality share at the end, their curve, time."""
    from . import toys

    steps = sizes["toy_steps"][toy]
    t0 = time.perf_counter()
    run = toys.train_toy(arm.loss, toy, steps=steps, hidden=sizes["toy_hidden"], depth=sizes["toy_depth"],
                         latent_dim=2, batch_size=sizes["toy_batch"], n_samples=sizes["toy_samples"],
                         sample_every=max(1, steps // sizes["toy_snapshots"]), seed=seed, device=device,
                         progress=progress, g_options=arm.g_options, d_options=arm.d_options, **arm.overrides)
    steps_, modes, hq = run.coverage_over_time()
    out = {"seed": seed, "modes": run.final.modes_covered, "n_modes": run.final.n_modes, "hq": run.final.high_quality,
           "modes_ema": run.final_ema.modes_covered, "hq_ema": run.final_ema.high_quality,
           "curve": {"step": steps_.tolist(), "modes": modes.tolist(), "hq": [round(float(h), 4) for h in hq]},
           "seconds": time.perf_counter() - t0, "seconds_per_step": run.seconds / steps}
    if keep_samples:
        out["samples"] = np.round(run.snapshots[-1]["samples"][:keep_samples].numpy(), 3).tolist()
    return out


def ha_pilot(sizes: dict, weights=HA_PILOT_WEIGHTS, seed: int = PILOT_SEED, toy: str = "ring8",
             log: Callable = print) -> dict:
    """Historical averaging's weight: one run per weight on ``toy`` with ``seed`` (not a seed of the tables);
    the best is the one with the most modes covered by the raw G, then the larger high-quality share."""
    runs = {}
    for w in weights:
        arm = Arm(f"historical averaging w={w:g}", "bce-ns", {"hist_avg_weight": w})
        runs[f"{w:g}"] = r = run_toy_arm(arm, toy, seed, sizes)
        log(f"pilot {toy} seed {seed} w={w:g}: {r['modes']}/{r['n_modes']} modes, {100 * r['hq']:.1f}% HQ")
    best = max(runs, key=lambda k: (runs[k]["modes"], runs[k]["hq"]))
    return {"toy": toy, "seed": seed, "weights": list(weights), "runs": runs, "best": float(best)}


def summarise_toys(part: dict) -> dict:
    """Mean +- std over seeds of modes covered and high-quality share (raw G and EMA G), per toy and arm."""
    return {toy: {name: {k: stats([r[k] for r in runs]) for k in ("modes", "hq", "modes_ema", "hq_ema",
                                                                       "seconds_per_step")}
                  for name, runs in arms.items() if runs}
            for toy, arms in part["runs"].items()}


# ============================================================================ Fashion-MNIST
def run_image_arm(arm: Arm, data, seed: int, sizes: dict, real_features=None, progress: bool = False,
                  device="cpu") -> dict:
    """One arm on Fashion-MNIST (notebook 04's DCGAN at 32 x 32, trained by :func:`gan_utils.train.train`);
    the EMA generator (its BatchNorm statistics re-estimated, as :func:`gan_utils.experiment.evaluate` does)
    scored by FD-classifier (``fd_n`` samples against the test split) and precision / recall (k = 3, the
    classifier's features, ``fd_n`` samples against ``real_features``)."""
    from ..data import InMemoryLoader
    from ..metrics import precision_recall
    from ..metrics.features import ClassifierFeatures
    from ..models import DCGANDiscriminator, DCGANGenerator, recompute_batchnorm_stats, sample
    from ..runtime import seed_everything
    from ..train import train
    from .recipes import fd_classifier, grid_u8, encode_u8

    seed_everything(seed)
    G = DCGANGenerator(100, 1, 32, sizes["image_width"], **arm.g_options)
    D = DCGANDiscriminator(1, 32, sizes["image_width"], **arm.d_options)
    cfg = arm.config(steps=sizes["image_steps"], batch_size=sizes["image_batch"], seed=seed, grad_norms=False,
                     fast=False, log_every=50, sample_every=0, n_samples=16)
    t0 = time.perf_counter()
    r = train(G.to(device), D.to(device), InMemoryLoader(data, sizes["image_batch"], device=device, seed=seed), cfg,
              progress=progress)
    seconds = time.perf_counter() - t0
    G_eval = recompute_batchnorm_stats(r.generator)          # a copy; VBN has no statistics to re-estimate
    n, fd_seed = sizes["fd_n"], sizes["fd_seed"]
    fd = fd_classifier(G_eval, n, fd_seed)
    extractor = ClassifierFeatures(device=device)
    if real_features is None:
        real_features = real_test_features(n, extractor)
    pr = precision_recall(real_features, extractor(sample(G_eval, n, seed=fd_seed)), k=3)
    h = r.history
    return {"seed": seed, "fd": fd, "precision": pr.precision, "recall": pr.recall, "density": pr.density,
            "coverage": pr.coverage, "seconds": seconds, "seconds_per_step": seconds / sizes["image_steps"],
            "samples_u8": encode_u8(grid_u8(G_eval, 32, seed=fd_seed)) if seed == sizes["seeds"][0] else None,
            "final_losses": {k: float(np.mean(h[k][-50:])) for k in ("loss_D", "loss_G") if k in h}}


def real_test_features(n: int, extractor=None) -> torch.Tensor:
    """Classifier features of ``n`` Fashion-MNIST test images (the first ``n`` of a seed-1 permutation; the
    real side of precision and recall)."""
    from ..data import load_dataset
    from ..metrics.features import ClassifierFeatures

    test = load_dataset("fashion-mnist", train=False, image_size=32)
    idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(1))[:n]
    extractor = extractor if extractor is not None else ClassifierFeatures()
    return extractor(test.images[idx])


def summarise_images(part: dict) -> dict:
    return {name: {k: stats([r[k] for r in runs]) for k in ("fd", "precision", "recall", "seconds_per_step")}
            for name, runs in part["runs"].items() if runs}


# ============================================================================ the semi-supervised GAN
def run_semisup(seed: int, sizes: dict, train_data=None, test_data=None, kind: str = "gan", progress: bool = False,
                device="cpu") -> dict:
    """One seed of the semi-supervised GAN (``kind="gan"``) or of its control (``"labelled-only"``): 100
    labelled Fashion-MNIST images (10 per class, chosen by ``seed``), tested on the 10 000 test images."""
    from ..data import load_dataset
    from ..loop import run_loop
    from ..semisup import LabelledOnly, SemiSupervisedConfig, SemiSupervisedGAN

    train_data = train_data if train_data is not None else load_dataset("fashion-mnist", train=True, image_size=28)
    test_data = test_data if test_data is not None else load_dataset("fashion-mnist", train=False, image_size=28)
    cfg = SemiSupervisedConfig(seed=seed, label_seed=seed, steps=sizes["ssl_steps"], sample_every=sizes["ssl_eval_every"])
    task = (SemiSupervisedGAN if kind == "gan" else LabelledOnly)(cfg, train_data, test_data, device=device)
    t0 = time.perf_counter()
    r = run_loop(task, cfg.steps, log_every=min(50, cfg.steps), sample_every=cfg.sample_every, progress=progress,
                 desc=f"{kind} seed {seed}")
    return {"seed": seed, "accuracy": task.curve["accuracy"][-1], "accuracy_raw": task.curve["accuracy_raw"][-1],
            "curve": task.curve, "seconds": time.perf_counter() - t0,
            "final_train_error": float(np.mean(r.history["train_error"][-50:]))}


def summarise_semisup(part: dict) -> dict:
    """Accuracy mean +- std over seeds for each kind, and the paired gap (GAN minus labelled-only, same seed
    and labels), in percentage points."""
    out = {kind: {k: stats([100 * r[k] for r in runs]) for k in ("accuracy", "accuracy_raw")}
           for kind, runs in part["runs"].items() if runs}
    gan, lab = part["runs"].get("gan", []), part["runs"].get("labelled-only", [])
    if gan and lab:
        out["gap"] = stats([100 * (g["accuracy"] - l["accuracy"]) for g, l in zip(gan, lab)])
    return out


# ============================================================================ the whole record
def run_experiments(sizes: Optional[dict] = None, only: Optional[str] = None, record: Optional[dict] = None,
                    save: Optional[Callable[[dict], None]] = None, device="cpu", log: Callable = print) -> dict:
    """The pilot, the toy tables, the Fashion-MNIST comparison and the semi-supervised runs (all, or ``only``
    one of "pilot", "toys", "semisup", "images"), at ``sizes`` (default :data:`FULL_SIZES`); ``save(record)``
    is called after every run (a crash keeps what was done). What scripts/record_improved.py records."""
    from ..data import load_dataset

    z = {**FULL_SIZES, **(sizes or {})}
    record = dict(record or {})
    save = save or (lambda rec: None)
    seeds = tuple(z["seeds"])
    if only in (None, "pilot"):
        record["pilot"] = ha_pilot(z, log=log)
        save(record)
    ha = record["pilot"]["best"] if "pilot" in record else HA_WEIGHT
    if only in (None, "toys"):
        arms = toy_arms(ha)
        part = record["toys"] = {"sizes": {k: z[k] for k in ("toy_steps", "toy_batch", "toy_hidden", "toy_depth",
                                                              "toy_samples", "toy_snapshots")},
                                 "seeds": list(seeds), "arms": {n: a.as_dict() for n, a in arms.items()},
                                 "runs": {toy: {n: [] for n in arms} for toy in z["toys"]}}
        for seed in seeds:
            for toy in z["toys"]:
                for name, arm in arms.items():
                    r = run_toy_arm(arm, toy, seed, z, keep_samples=500 if seed == seeds[0] else 0, device=device)
                    part["runs"][toy][name].append(r)
                    log(f"{toy} {name:>25} seed {seed}: {r['modes']}/{r['n_modes']} modes, {100 * r['hq']:.1f}% HQ "
                        f"(EMA {r['modes_ema']}, {100 * r['hq_ema']:.1f}%), {r['seconds']:.0f} s")
                    part["summary"] = summarise_toys(part)
                    save(record)
    if only in (None, "semisup"):
        train28 = load_dataset("fashion-mnist", train=True, image_size=28)
        test28 = load_dataset("fashion-mnist", train=False, image_size=28)
        part = record["semisup"] = {"seeds": list(seeds), "steps": z["ssl_steps"], "eval_every": z["ssl_eval_every"],
                                    "labels_per_class": 10, "runs": {"gan": [], "labelled-only": []}}
        for seed in seeds:
            for kind in ("gan", "labelled-only"):
                r = run_semisup(seed, z, train28, test28, kind, device=device)
                part["runs"][kind].append(r)
                log(f"semi-supervised {kind:>13} seed {seed}: test accuracy {100 * r['accuracy']:.2f}% "
                    f"(raw D {100 * r['accuracy_raw']:.2f}%), {r['seconds']:.0f} s")
                part["summary"] = summarise_semisup(part)
                save(record)
    if only in (None, "images"):
        arms = image_arms(ha)
        data = load_dataset("fashion-mnist", train=True, image_size=32)
        real_f = real_test_features(z["fd_n"])
        part = record["images"] = {"sizes": {k: z[k] for k in ("image_steps", "image_width", "image_batch", "fd_n",
                                                                "fd_seed")},
                                   "seeds": list(seeds), "arms": {n: a.as_dict() for n, a in arms.items()},
                                   "runs": {n: [] for n in arms}}
        for seed in seeds:
            for name, arm in arms.items():
                r = run_image_arm(arm, data, seed, z, real_features=real_f, device=device)
                part["runs"][name].append(r)
                log(f"images {name:>25} seed {seed}: FD-classifier {r['fd']:.1f}, precision {r['precision']:.3f}, "
                    f"recall {r['recall']:.3f}, {r['seconds']:.0f} s")
                part["summary"] = summarise_images(part)
                save(record)
    return record


def load_record(path=None, repo: Optional[str] = None, ref: str = "main") -> dict:
    """docs/improved_record.json (or ``path``, or the file of GitHub ``repo`` at ``ref`` on an install without
    the repository)."""
    return load_json_record(RECORD_NAME, path, repo, ref, how_to_make=(
        f"Run python {SCRIPT} from a clone of the course (hours on a CPU), or set RERUN_RECORD = True in the "
        "notebook's parameters cell."))


def recording_runs(recorded: dict) -> list:
    """The runs of scripts/record_improved.py that made a record, oldest first, from its ``recorded`` entry:
    a run with ``--only`` keeps what the earlier runs said about themselves (their command line, dates, load,
    hardware, commit) in ``previous_runs``. Each entry is a ``recorded`` dict without ``previous_runs``."""
    own = {k: v for k, v in recorded.items() if k != "previous_runs"}
    return [*recorded.get("previous_runs", []), own]


# ============================================================================ the prose quoting the record
#: pairs compared besides "each arm vs the baseline": virtual BN against its control, plain BatchNorm in G
TOY_CONTROLS = (("virtual BN", "BatchNorm G"),)
SENTENCE_MARKERS = sentence_markers("toys", "images", "semisup")


def verdict(sa: dict, sb: dict) -> str:
    """The word the notebook's tables give the difference of two summary entries (mean, std, the seeds'
    values): notebook 10's verdict, Welch's t-test of the seeds (:func:`records.verdict_level`)."""
    return verdict_level(sa, sb)[0]


def _diff(sa: dict, sb: dict, what: str, higher_is_better: bool, digits: int, unit: str = "") -> str:
    """"<what> +1.2<unit> (better; <verdict>, p = ...)" for mean a against mean b."""
    d = sa["mean"] - sb["mean"]
    if abs(d) < 0.5 * 10 ** -digits:
        return f"{what} the same ({welch_verdict(sa, sb, short=True)})"
    better = (d > 0) == higher_is_better
    return f"{what} {d:+.{digits}f}{unit} ({'better' if better else 'worse'}; {welch_verdict(sa, sb, short=True)})"


def record_sentences(record: dict, part: str) -> str:
    """The markdown notebook 14 shows between ``SENTENCE_MARKERS[part]``: the recorded means ± std of ``part``
    ("toys", "images" or "semisup") and what the spread of the seeds says about each difference. Generated
    (``python scripts/record_improved.py --write-notebook``) and kept equal to the record by a test."""
    out = []
    if part == "toys":
        r = record["toys"]
        S = r["summary"]
        for toy in r["runs"]:
            n_modes = r["runs"][toy]["baseline"][0]["n_modes"]
            out.append(f"**{toy}** ({r['sizes']['toy_steps'][toy]} steps, {len(r['seeds'])} seeds; modes covered "
                       f"of {n_modes}, high-quality share in %; raw G, then the EMA G):")
            out.append("")
            out.append("| arm | modes | HQ % | modes (EMA) | HQ % (EMA) |")
            out.append("|---|---|---|---|---|")
            for name in r["runs"][toy]:
                s = S[toy][name]
                out.append(f"| {name} | {fmt_stat(s['modes'])} | {fmt_stat(_pct(s['hq']))} | "
                           f"{fmt_stat(s['modes_ema'])} | {fmt_stat(_pct(s['hq_ema']))} |")
            out.append("")
            pairs = [(name, "baseline") for name in r["runs"][toy] if name != "baseline"]
            pairs += [p for p in TOY_CONTROLS if p[0] in S[toy] and p[1] in S[toy]]
            for a, b in pairs:
                out.append(f"* {a} vs {b}: " + _diff(S[toy][a]["modes"], S[toy][b]["modes"], "modes", True, 1)
                           + "; " + _diff(_pct(S[toy][a]["hq"]), _pct(S[toy][b]["hq"]), "HQ share", True, 1, " points")
                           + ".")
            out.append("")
    elif part == "images":
        r = record["images"]
        S = r["summary"]
        out.append(f"{r['sizes']['image_steps']} steps, {len(r['seeds'])} seeds, the EMA generator, "
                   f"{r['sizes']['fd_n']} samples:")
        out.append("")
        out.append("| arm | FD-classifier (lower is better) | precision | recall |")
        out.append("|---|---|---|---|")
        for name in r["runs"]:
            s = S[name]
            out.append(f"| {name} | {fmt_stat(s['fd'])} | {fmt_stat(s['precision'], 3)} | {fmt_stat(s['recall'], 3)} |")
        out.append("")
        for name in r["runs"]:
            if name != "baseline":
                out.append(f"* {name} vs baseline: " + _diff(S[name]["fd"], S["baseline"]["fd"], "FD-classifier", False, 1)
                           + "; " + _diff(S[name]["precision"], S["baseline"]["precision"], "precision", True, 3)
                           + "; " + _diff(S[name]["recall"], S["baseline"]["recall"], "recall", True, 3) + ".")
    elif part == "semisup":
        r = record["semisup"]
        S = r["summary"]
        out.append(f"* **semi-supervised GAN** (100 labels + the unlabelled training set, {r['steps']} steps): test "
                   f"accuracy {fmt_stat(S['gan']['accuracy'], 2)} % (the averaged classifier; the last raw one: "
                   f"{fmt_stat(S['gan']['accuracy_raw'], 2)} %).")
        out.append(f"* **the same classifier on the 100 labels alone** ({r['steps']} steps): "
                   f"{fmt_stat(S['labelled-only']['accuracy'], 2)} % (raw: {fmt_stat(S['labelled-only']['accuracy_raw'], 2)} %).")
        gap = S["gap"]
        vals = ", ".join(f"{v:+.2f}" for v in gap["values"])
        out.append(f"* the gap, seed by seed (same labels, same initial classifier): {vals} percentage points; "
                   f"mean {gap['mean']:+.2f} ± {gap['std']:.2f}.")
        out.append("* semi-supervised GAN vs labels alone: " + _diff(S["gan"]["accuracy"], S["labelled-only"]["accuracy"],
                                                                     "test accuracy", True, 2, " points") + ".")
    else:
        raise ValueError(f"part={part!r}; use one of {list(SENTENCE_MARKERS)}")
    return "\n".join(out).strip()


def _pct(s: dict) -> dict:
    return {"mean": 100 * s["mean"], "std": 100 * s["std"], "values": [100 * v for v in s["values"]]}


def finished_markers(record: dict) -> dict:
    """The :data:`SENTENCE_MARKERS` of the parts the record has finished (``recorded.parts_done``): a part still
    being recorded keeps its old sentences when scripts/record_improved.py --write-notebook rewrites the rest."""
    done = set(record.get("recorded", {}).get("parts_done", []))
    return {k: v for k, v in SENTENCE_MARKERS.items() if k in done}


# ============================================================================ figures
def plot_toy_samples(record: dict, toy: str, axes=None, n_show: int = 500):
    """The raw generator's final samples (seed of the record's first run) of every arm on ``toy``, over the
    mode centres."""
    import matplotlib.pyplot as plt

    from . import toys

    r = record["toys"]
    names = list(r["runs"][toy])
    if axes is None:
        cols = min(5, len(names))
        rows = -(-len(names) // cols)
        _, axes = plt.subplots(rows, cols, figsize=(2.9 * cols, 2.9 * rows + 0.4), squeeze=False)
        axes = axes.ravel()
    _, centers, _ = toys.toy_data(toy, 1, 0)
    lim = toys.plot_limits(centers)
    for ax, name in zip(axes, names):
        run = r["runs"][toy][name][0]
        pts = np.asarray(run["samples"])[:n_show]
        ax.scatter(pts[:, 0], pts[:, 1], s=2, c="C1", alpha=0.6, lw=0)
        ax.scatter(centers[:, 0], centers[:, 1], marker="x", s=25, c="k", lw=1)
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="$x_1$", ylabel="$x_2$",
               title=f"{name}\n{run['modes']}/{run['n_modes']} modes, {100 * run['hq']:.0f}% HQ")
        ax.set_aspect("equal")
        ax.title.set_fontsize(9)
    for ax in axes[len(names):]:
        ax.axis("off")
    fig = axes[0].figure
    fig.suptitle(f"{toy}: the raw G's samples (orange) after {r['sizes']['toy_steps'][toy]} steps, seed {r['seeds'][0]}")
    fig.tight_layout()
    return fig


def plot_summary_bars(names, stats: dict, ylabel: str, title: str, ax=None, scale: float = 1.0):
    """Mean +- std bars with the seeds as dots, one bar per arm in ``names``; ``stats[name]`` a summary entry."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 1.1 * len(names)), 3.8))
    xs = np.arange(len(names))
    ax.bar(xs, [scale * stats[n]["mean"] for n in names], 0.7, yerr=[scale * stats[n]["std"] for n in names],
           capsize=3, color="C0", alpha=0.45)
    for x, n in zip(xs, names):
        v = scale * np.asarray(stats[n]["values"])
        ax.plot([x] * len(v), v, "k.", ms=5)
    ax.set_xticks(xs, names, rotation=30, ha="right", fontsize=8)
    ax.set(xlabel="arm", ylabel=ylabel, title=title)
    return ax
