"""StyleGAN's ideas built small: the lesson helpers of notebooks/12_stylegan.ipynb.

The models themselves are library code (:class:`gan_utils.models.StyleGenerator`, :func:`~gan_utils.models.
modulated_conv2d`, :func:`~gan_utils.models.truncate`, :class:`~gan_utils.models.EqualisedLinear`,
:func:`gan_utils.metrics.perceptual_path_length`); here is what the notebook does with them:

- :func:`relative_adam_step`: how far one Adam step moves a layer's effective weights, relative to their size
  (equalised learning rate);
- :func:`instance_norm_spike` and :func:`demod_spike`: the mechanism of AdaIN's droplet artefact on one feature
  map, and why demodulation has none; :func:`peak_to_mean`: the droplet statistic of a trained generator;
- :func:`noise_realisations`: one w, many noise draws (StyleGAN's Fig. 4); :func:`mixing_grid`: style mixing;
- :func:`truncation_sweep`: truncation in W and in Z measured by FD-classifier and precision/recall;
- the recorded comparison (:data:`ARMS`, :func:`run_record`, docs/stylegan_record.json written by
  scripts/record_stylegan.py): the style generator (demodulation and AdaIN) against notebook 04's DCGAN at
  equal training time, 3 seeds, with FD-classifier, precision/recall, PPL-classifier in Z and W and the droplet
  statistic; :func:`record_sentences` writes the notebook's prose from it.
"""
from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models import StyleLayer, eval_mode, modulated_conv2d
from .recipes import encode_u8
from .records import fmt_stat, load_json_record, sentence_markers, stats, versus_sentence


# ============================================================================ equalised learning rate
def relative_adam_step(weight_fn: Callable[[], torch.Tensor], params, lr: float = 1e-3, seed: int = 0) -> float:
    """One Adam step with a random gradient on ``params``; returns rms(change of ``weight_fn()``) / rms(``weight_fn()``
    before): how fast, relative to its size, the layer's effective weight moves. Adam's first step is
    ``lr * g / (|g| + eps)``, about ``lr`` for every stored number whatever the gradient, so this is ``lr`` times
    the runtime scale over the weight's size. The parameters are restored afterwards."""
    params = list(params)
    saved = [p.detach().clone() for p in params]
    before = weight_fn().detach().clone()
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(params, lr=lr)
    for p in params:
        p.grad = torch.randn(p.shape, generator=g).to(p)
    opt.step()
    after = weight_fn().detach().clone()                # a copy: the parameters are restored below
    with torch.no_grad():
        for p, s in zip(params, saved):
            p.copy_(s)
            p.grad = None
    return float((after - before).square().mean().sqrt() / before.square().mean().sqrt())


# ============================================================================ the droplet mechanism
def _feature_map(size: int, seed: int) -> torch.Tensor:
    """A smooth (1, 1, size, size) feature map of zero mean and unit variance (blurred noise)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 1, size, size, generator=g, dtype=torch.float64)
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64)
    k = (k[:, None] * k[None, :] / 256.0)[None, None]
    x = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="circular"), k)
    return (x - x.mean()) / x.std(unbiased=False)


def spike_at(size: int) -> tuple[int, int]:
    """Where :func:`instance_norm_spike` puts its spike: a quarter of the way in from the top left."""
    return size // 4, size // 4


def instance_norm_spike(signal: float, spike: float, size: int = 16, seed: int = 0) -> dict:
    """One feature map, ``signal`` times a smooth unit-variance pattern plus a spike of height ``spike`` at one
    pixel, through instance normalisation (AdaIN's first half: subtract the map's mean, divide by its standard
    deviation). Returns the rms of the normalised map *away from the spike* and the normalised spike's height.

    Without a spike the output is the same for every ``signal`` (the normalisation removes the map's
    strength: what the next layer sees cannot depend on it). With one, the standard deviation is dominated by
    the spike, sqrt(signal^2 + spike^2 / N) for N pixels, so the spike sets how strong the rest of the map comes
    out: a generator that wants to pass "this feature is weak here" past the normalisation can do it by a
    strong, localised spike, the droplet (Karras et al. 2020, Sec. 2)."""
    x = signal * _feature_map(size, seed)
    i, j = spike_at(size)
    x[0, 0, i, j] += spike
    y = F.instance_norm(x, eps=1e-8)
    mask = torch.ones_like(y, dtype=torch.bool)
    mask[0, 0, i, j] = False
    return {"rest_rms": float(y[mask].square().mean().sqrt()), "spike_out": float(y[0, 0, i, j]),
            "std": float(x.std(unbiased=False))}


def demod_spike(signal: float, spike: float, size: int = 16, seed: int = 0, channels: int = 4) -> dict:
    """The same input as :func:`instance_norm_spike` (on every one of ``channels`` input maps), through a
    modulated and demodulated 3x3 convolution instead: the output away from the spike's 3x3 neighbourhood does
    not depend on the spike at all (demodulation scales the *weights*, from the style alone, never by statistics
    of the data), so a spike buys nothing there; and the output scales with ``signal``. Returns the rms away from
    the spike's neighbourhood."""
    g = torch.Generator().manual_seed(seed + 1)
    weight = torch.randn(channels, channels, 3, 3, generator=g, dtype=torch.float64)
    styles = torch.rand(1, channels, generator=g, dtype=torch.float64) + 0.5
    x = (signal * _feature_map(size, seed)).expand(1, channels, size, size).clone()
    i, j = spike_at(size)
    x[0, :, i, j] += spike
    y = modulated_conv2d(x, weight, styles, demodulate=True)
    mask = torch.ones(size, size, dtype=torch.bool)
    mask[max(0, i - 1):i + 2, max(0, j - 1):j + 2] = False
    return {"rest_rms": float(y[0][:, mask].square().mean().sqrt())}


@torch.no_grad()
def peak_to_mean(G: nn.Module, n: int = 256, seed: int = 0, batch_size: int = 128, noise_mode: str = "random") -> dict:
    """The droplet statistic of a style generator: for every feature map of every synthesis layer (read at
    ``StyleLayer.tap``, after the nonlinearity and before any normalisation) the ratio of its largest absolute
    activation to its mean absolute activation over the pixels, for ``n`` samples. A droplet, one spike that
    dominates its map, shows as a large ratio; a map of N pixels has a ratio of at most N. Returns
    ``{"resolution": [per layer], "ratios": [per layer: (n * C,) array]}``."""
    layers = [m for m in G.modules() if isinstance(m, StyleLayer)]
    caught = {i: [] for i in range(len(layers))}
    hooks = [layer.tap.register_forward_hook(
        lambda m, inp, out, i=i: caught[i].append((out.abs().amax(dim=(2, 3)) / out.abs().mean(dim=(2, 3)).clamp_min(1e-12))
                                                  .flatten().cpu())) for i, layer in enumerate(layers)]
    try:
        z = torch.randn(n, G.latent_dim, generator=torch.Generator().manual_seed(seed))
        device = next(G.parameters()).device
        with eval_mode(G), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            for i in range(0, n, batch_size):
                G(z[i:i + batch_size].to(device), noise_mode=noise_mode)
    finally:
        for h in hooks:
            h.remove()
    res = list(G.synthesis.resolutions[:len(layers)])
    return {"resolution": res, "ratios": [torch.cat(caught[i]).numpy() for i in range(len(layers))]}


def peak_to_mean_summary(stat: dict, q: float = 0.99) -> dict:
    """Per layer: the median and the ``q``-quantile of :func:`peak_to_mean`'s ratios (JSON-able)."""
    return {"resolution": list(stat["resolution"]),
            "median": [float(np.median(r)) for r in stat["ratios"]],
            f"q{int(round(q * 100))}": [float(np.quantile(r, q)) for r in stat["ratios"]]}


# ============================================================================ noise, mixing, truncation
@torch.no_grad()
def noise_realisations(G: nn.Module, z: torch.Tensor, n: int = 100, seed: int = 0) -> torch.Tensor:
    """``n`` images of the *same* code ``z`` (one, shape (latent_dim,)), each with its own draw of the noise
    inputs: (n, C, H, W). Their per-pixel standard deviation shows where the noise acts (StyleGAN, Fig. 4)."""
    device = next(G.parameters()).device
    zs = z.reshape(1, -1).expand(n, -1).to(device)
    with eval_mode(G), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        return G(zs, noise_mode="random").float().cpu()


@torch.no_grad()
def mixing_grid(G: nn.Module, z_rows: torch.Tensor, z_cols: torch.Tensor, crossover: int,
                noise_mode: str = "const") -> torch.Tensor:
    """Style mixing (StyleGAN, Fig. 3): for every pair (row code a, column code b) the image whose layers
    ``< crossover`` read w(a) and the rest w(b). Returns ((R + 1) * (C + 1), ch, H, W) in row-major order: the
    first row is [blank, the column sources], every next row [its row source, its mixes]."""
    device = next(G.parameters()).device
    with eval_mode(G):
        wa, wb = G.mapping(z_rows.to(device)), G.mapping(z_cols.to(device))
        src_a = G.synthesis(G.broadcast(wa), noise_mode=noise_mode).cpu()
        src_b = G.synthesis(G.broadcast(wb), noise_mode=noise_mode).cpu()
        blank = torch.ones_like(src_a[:1])
        rows = [torch.cat([blank, src_b])]
        for r in range(len(wa)):
            mixed = G.synthesis(G.mix(wa[r:r + 1].expand(len(wb), -1), wb, crossover), noise_mode=noise_mode).cpu()
            rows.append(torch.cat([src_a[r:r + 1], mixed]))
    return torch.cat(rows).float()


@torch.no_grad()
def truncation_sweep(G: nn.Module, real_features: torch.Tensor, psis=(1.0, 0.9, 0.7, 0.5, 0.3),
                     thresholds=(None, 2.0, 1.5, 1.0, 0.5), n: int = 2000, seed: int = 0, extractor=None,
                     k: int = 3, progress: bool = True) -> list:
    """Truncation in W (``psi``: w_avg + psi (w - w_avg)) and in Z (coordinates redrawn beyond +-t, notebook
    09's) on the same generator, each scored against ``real_features`` (the extractor's features of real
    images) by FD and precision/recall (k = ``k``). Returns rows ``{"space", "value", "fd", "precision",
    "recall", "density", "coverage"}``; ``value`` is psi (W) or t (Z; inf = none)."""
    from tqdm.auto import tqdm

    from ..metrics import precision_recall
    from ..metrics.features import get_extractor
    from ..metrics.fid import feature_statistics, frechet_distance
    from ..models import sample, truncated_normal

    extractor = extractor if extractor is not None else get_extractor("classifier", "fashion-mnist", device="cpu")
    mu_r, sig_r = feature_statistics(real_features)
    settings = [("w", p) for p in psis] + [("z", t) for t in thresholds]
    rows = []
    for space, value in tqdm(settings, desc="truncation", unit="setting", disable=not progress):
        if space == "w":
            x = sample(G, n, seed=seed, truncation=value)
        else:
            x = sample(G, n, seed=seed, z=truncated_normal(n, G.latent_dim, value, seed))
        f = extractor(x)
        mu, sig = feature_statistics(f)
        pr = precision_recall(real_features, f, k=k)
        rows.append({"space": space, "value": float("inf") if value is None else float(value),
                     "fd": float(frechet_distance(mu, sig, mu_r, sig_r)), "precision": pr.precision,
                     "recall": pr.recall, "density": pr.density, "coverage": pr.coverage})
    return rows


# ============================================================================ the recorded comparison
#: the arms of the record: the style generator of gan_utils/configs/style_fmnist.json (weight demodulation), the
#: same with AdaIN (everything else equal), and notebook 04's DCGAN (width 32, batch 64, bce-ns, Adam 2e-4,
#: betas (0.5, 0.999), EMA 0.999) on Fashion-MNIST padded to 32x32
STYLE_CONFIG = "style_fmnist"
DCGAN_04 = {"model": "dcgan", "loss": "bce-ns", "width": 32, "batch_size": 64, "lr_g": 2e-4, "lr_d": 2e-4,
            "betas_g": [0.5, 0.999], "betas_d": [0.5, 0.999], "ema_decay": 0.999}
ARMS = {
    "style": {"config": STYLE_CONFIG, "overrides": {}},
    "style-adain": {"config": STYLE_CONFIG, "overrides": {"style_mode": "adain"}},
    "dcgan": {"config": None, "overrides": DCGAN_04},
}
LABELS = {"style": "style G (demodulation)", "style-adain": "style G (AdaIN)", "dcgan": "DCGAN (notebook 04)"}
#: sizes of the full record and of a smoke run (CI: seconds); budget: training CPU seconds per arm (one thread)
FULL_SIZES = dict(seeds=(0, 1, 2), budget=300.0, chunk=100, fd_n=5000, pr_n=5000, ppl_n=2000, peak_n=256,
                  n_grid=32, threads=1)
SMOKE_SIZES = dict(seeds=(0,), budget=2.0, chunk=2, fd_n=64, pr_n=64, ppl_n=16, peak_n=8, n_grid=4, threads=1,
                   width=4, batch_size=8)
RECORD_NAME = "stylegan_record.json"
METRICS = ("fd", "precision", "recall", "ppl_z", "ppl_z_end", "ppl_w", "ppl_w_end")


def arm_options(name: str, seed: int, sizes: Optional[dict] = None) -> dict:
    """The run options (gan_utils.config) of arm ``name`` for ``seed``: its config or options, Fashion-MNIST at
    32x32 on the CPU; a smoke run's ``width`` / ``batch_size`` from ``sizes``."""
    from ..config import load_config

    arm = ARMS[name]
    opts = load_config(arm["config"]) if arm["config"] else {}
    opts.update(arm["overrides"])
    opts.update(dataset="fashion-mnist", image_size=32, seed=seed, device="cpu", sample_every=0, ckpt_every=0,
                log_every=50, grad_norms=False, fast=False)
    for key in ("eval_every", "name", "notes", "steps"):
        opts.pop(key, None)
    for key in ("width", "batch_size"):
        if sizes and key in sizes:
            opts[key] = sizes[key]
    return opts


class TimedRun:
    """One arm and seed, trained by :func:`gan_utils.train.train` in chunks (a resume from ``out_dir`` each time,
    bit-exact) so that several arms can take turns; ``cpu`` and ``wall`` add up the seconds of the ``train`` calls
    (process CPU time: the fair clock on a machine other jobs share; wall-clock time too)."""

    def __init__(self, name: str, opts: dict, out_dir):
        from ..config import RunConfig, build_run

        self.name, self.opts, self.out_dir = name, opts, Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(opts["seed"])                       # the same models whatever ran before
        self.G, self.D, self.loader, self.cfg = build_run(RunConfig.from_options(opts))
        self.step, self.cpu, self.wall = 0, 0.0, 0.0
        self.rng = torch.random.get_rng_state()               # this run's stream until its first checkpoint

    def advance(self, n: int) -> None:
        from dataclasses import replace

        from ..train import train

        if self.step == 0:
            torch.random.set_rng_state(self.rng)
        cfg = replace(self.cfg, steps=self.step + int(n))
        c0, t0 = time.process_time(), time.perf_counter()
        train(self.G, self.D, self.loader, cfg, out_dir=self.out_dir, resume=self.step > 0, progress=False)
        self.cpu += time.process_time() - c0
        self.wall += time.perf_counter() - t0
        self.step = cfg.steps


def train_for_time(runs: list, budget: float, chunk: int, progress: bool = True) -> None:
    """Train every run until it has used ``budget`` CPU seconds, the runs taking turns ``chunk`` steps at a time
    (the last chunk of each sized from its measured rate, so that all stop close to the budget)."""
    from tqdm.auto import tqdm

    with tqdm(total=len(runs) * budget, desc="training (CPU s)", unit="s", disable=not progress) as bar:
        while True:
            active = [r for r in runs if r.cpu < budget and (r.step == 0 or r.cpu + 0.5 * r.cpu / r.step < budget)]
            if not active:
                break
            for r in active:
                used = r.cpu
                n = chunk if r.step == 0 else max(1, min(chunk, int(round((budget - r.cpu) / (r.cpu / r.step)))))
                r.advance(n)
                bar.update(min(r.cpu, budget) - min(used, budget))


def evaluate_arm(G: nn.Module, sizes: dict, real_features: torch.Tensor, extractor, seed: int = 12345) -> dict:
    """The record's measurements of one trained (EMA) generator: FD-classifier against the test split,
    precision/recall against ``real_features``, PPL-classifier in Z (and W for a style G), full and end, and the
    droplet statistic of a style G. An EMA generator with BatchNorm first gets its own running statistics
    (:func:`gan_utils.models.recompute_batchnorm_stats`, as :func:`gan_utils.experiment.evaluate` does)."""
    from ..experiment import BN_BATCH, BN_BATCHES
    from ..metrics import fid, perceptual_path_length, precision_recall
    from ..models import has_batchnorm, recompute_batchnorm_stats, sample

    recomputed = has_batchnorm(G)
    if recomputed:          # an EMA generator with BatchNorm (the DCGAN): its own statistics, as experiment.evaluate does
        G = recompute_batchnorm_stats(G, n_batches=BN_BATCHES, batch_size=BN_BATCH, seed=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*biased upwards.*")
        fd = float(fid(G, "fashion-mnist", split="test", n=sizes["fd_n"], features=extractor, seed=seed))
    pr = precision_recall(real_features, extractor(sample(G, sizes["pr_n"], seed=seed + 1)))
    out = {"fd": fd, "precision": pr.precision, "recall": pr.recall, "density": pr.density, "coverage": pr.coverage,
           "batchnorm_recomputed": recomputed}
    spaces = ("z", "w") if hasattr(G, "mapping") else ("z",)
    for space in spaces:
        for sampling in ("full", "end"):
            r = perceptual_path_length(G, space, n=sizes["ppl_n"], features=extractor, seed=seed + 2, sampling=sampling)
            out[f"ppl_{space}" + ("" if sampling == "full" else "_end")] = r.value
    if hasattr(G, "synthesis"):
        out["peak_to_mean"] = peak_to_mean_summary(peak_to_mean(G, n=sizes["peak_n"], seed=seed + 3))
        out["w_avg_gap"] = float((G.w_avg - G.estimate_w_avg(2000, seed=seed + 4)).norm() / G.w_avg.norm().clamp_min(1e-12))
    return out


def run_record(sizes: Optional[dict] = None, work_dir=None, progress: bool = True, log: Callable = print) -> dict:
    """The comparison of the record: for every seed, the arms of :data:`ARMS` take turns until each has trained
    for ``sizes["budget"]`` CPU seconds, then their EMA generators are measured (:func:`evaluate_arm`). Returns the
    JSON-able record (without the "recorded" block scripts/record_stylegan.py adds)."""
    import tempfile

    from ..checkpoint import load_generator
    from ..data import load_dataset
    from ..metrics.features import get_extractor
    from ..models import sample

    z = {**FULL_SIZES, **(sizes or {})}
    torch.set_num_threads(int(z["threads"]))
    work = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="stylegan-record-"))
    extractor = get_extractor("classifier", "fashion-mnist", device="cpu")
    test = load_dataset("fashion-mnist", train=False, image_size=32)
    idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:z["pr_n"]]
    real_features = extractor(test.images[idx])
    record = {"sizes": {k: list(v) if isinstance(v, tuple) else v for k, v in z.items()},
              "arms": {name: {"options": arm_options(name, 0, z), "label": LABELS[name]} for name in ARMS},
              "runs": {name: [] for name in ARMS}}
    for seed in z["seeds"]:
        t_seed = time.perf_counter()
        runs = [TimedRun(name, arm_options(name, seed, z), work / f"seed{seed}" / name) for name in ARMS]
        train_for_time(runs, z["budget"], z["chunk"], progress=progress)
        for r in runs:
            G = load_generator(r.out_dir)                       # the EMA generator, as sampling uses it
            res = {"seed": seed, "steps": r.step, "cpu_seconds": r.cpu, "wall_seconds": r.wall,
                   **evaluate_arm(G, z, real_features, extractor)}
            if seed == z["seeds"][0] and z["n_grid"]:
                x = sample(G, z["n_grid"], seed=7)
                res["samples_u8"] = encode_u8(((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[:, 0].numpy())
            record["runs"][r.name].append(res)
        log(f"seed {seed}: " + ", ".join(f"{r.name} {r.step} steps" for r in runs)
            + f" ({time.perf_counter() - t_seed:.0f} s)")
    record["summary"] = summarise(record)
    return record


def summarise(record: dict) -> dict:
    """Mean +- std over seeds of every metric of every arm (and of steps and seconds)."""
    out = {}
    for name, runs in record["runs"].items():
        keys = [k for k in (*METRICS, "steps", "cpu_seconds", "wall_seconds") if runs and k in runs[0]]
        s = {k: stats([r[k] for r in runs]) for k in keys}
        if runs and "peak_to_mean" in runs[0]:
            s["peak_to_mean_q99_finest"] = stats([r["peak_to_mean"]["q99"][-1] for r in runs])
            s["peak_to_mean_median_finest"] = stats([r["peak_to_mean"]["median"][-1] for r in runs])
        out[name] = s
    return out


def load_record(path=None, repo: Optional[str] = None, ref: str = "main") -> dict:
    """The record: ``path``, else docs/stylegan_record.json of this repository, else (on Colab) downloaded from
    GitHub ``repo`` at ``ref`` (:func:`gan_utils.lessons.records.load_json_record`)."""
    return load_json_record(RECORD_NAME, path, repo, ref, how_to_make=(
        "Run python scripts/record_stylegan.py from a clone of the course (about two hours on a shared 2-core CPU)."))


# ============================================================================ the prose quoting the record
SENTENCE_MARKERS = sentence_markers("droplet", "ppl", "compare")


def _cmp(a: str, b: str, sa: dict, sb: dict, what: str, digits: int = 1) -> str:
    """One sentence: which of two arms has the lower mean of ``what``, by how much, and what Welch's t-test of
    the seeds' values says about it (:func:`gan_utils.lessons.records.versus_sentence`)."""
    return versus_sentence(LABELS.get(a, a), LABELS.get(b, b), sa, sb, what, digits=digits)


def record_sentences(record: dict, part: str) -> str:
    """The markdown between ``SENTENCE_MARKERS[part]`` in the notebook, generated from the record (so that the
    prose cannot drift from it; tests/test_stylegan_record.py checks)."""
    S, n = record["summary"], len(record["sizes"]["seeds"])
    out = []
    if part == "droplet":
        res = record["runs"]["style"][0]["peak_to_mean"]["resolution"][-1]
        for name in ("style-adain", "style"):
            out.append(f"* **{LABELS[name]}**: largest over mean activation of the {res}x{res} feature maps, median "
                       f"{fmt_stat(S[name]['peak_to_mean_median_finest'])}, 99th percentile "
                       f"{fmt_stat(S[name]['peak_to_mean_q99_finest'])} (mean ± std over {n} seeds).")
        out.append("")
        out.append("* " + _cmp("style-adain", "style", S["style-adain"]["peak_to_mean_q99_finest"],
                               S["style"]["peak_to_mean_q99_finest"], "the 99th percentile of the droplet statistic"))
    elif part == "ppl":
        for name in ("style", "style-adain"):
            s = S[name]
            out.append(f"* **{LABELS[name]}**: PPL-classifier in Z {fmt_stat(s['ppl_z'])}, in W {fmt_stat(s['ppl_w'])} "
                       f"(end points only: Z {fmt_stat(s['ppl_z_end'])}, W {fmt_stat(s['ppl_w_end'])}).")
        s = S["dcgan"]
        out.append(f"* **{LABELS['dcgan']}** (no W): PPL-classifier in Z {fmt_stat(s['ppl_z'])} (end points only: "
                   f"{fmt_stat(s['ppl_z_end'])}).")
        out.append("")
        for name in ("style", "style-adain"):
            w_lower = S[name]["ppl_w"]["mean"] < S[name]["ppl_z"]["mean"]
            per_seed = sum(r["ppl_w"] < r["ppl_z"] for r in record["runs"][name])
            out.append(f"* {LABELS[name]}: the path in W is {'shorter' if w_lower else 'longer'} than in Z on average, "
                       f"and shorter in {per_seed} of {n} seeds.")
    elif part == "compare":
        for name in ("style", "dcgan"):
            s = S[name]
            out.append(f"* **{LABELS[name]}**: {fmt_stat(s['steps'], 0)} steps in the budget; FD-classifier "
                       f"{fmt_stat(s['fd'])}, precision {fmt_stat(s['precision'], 2)}, recall {fmt_stat(s['recall'], 2)}, "
                       f"PPL-classifier in Z {fmt_stat(s['ppl_z'])}.")
        out.append("")
        out.append("* " + _cmp("style", "dcgan", S["style"]["fd"], S["dcgan"]["fd"], "FD-classifier"))
        out.append("* " + _cmp("style", "dcgan", S["style"]["recall"], S["dcgan"]["recall"], "recall", digits=2))
    else:
        raise ValueError(f"part={part!r}; use one of {list(SENTENCE_MARKERS)}")
    return "\n".join(out)
