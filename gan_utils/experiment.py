"""Long runs with periodic evaluation: the driver behind notebooks/08_full_training.ipynb and
``python -m gan_utils run`` (both read the same ``gan_utils/configs/*.json`` through :mod:`gan_utils.config`).

:func:`run_experiment` trains in chunks and measures the EMA generator between chunks::

    for target in (eval_every, 2 * eval_every, ..., steps):       # only the evaluations still missing
        train(G, D, loader, cfg(steps=target), out_dir, resume=True)   # continues bit-exactly from
                                                                       # out_dir/checkpoint_latest.pt
        value = FID (or FD-classifier) of the EMA generator              # gan_utils.metrics.fid
        out_dir/eval.json  += {step, value, protocol}                   # written atomically
        out_dir/best.pt     = the checkpoint, when value is the best so far

Everything it needs to continue lives in ``out_dir`` (point it at a mounted Google Drive folder,
e.g. through ``gan_utils.checkpoint_dir()`` and ``$GAN_COURSE_CHECKPOINTS``), so running the same
call again after a disconnect resumes where the run stopped, and a finished run trains nothing
more. The order of the writes makes every interruption safe: the checkpoint of step s is written
before its evaluation, and ``eval.json`` (the record of what is done) last; an evaluation lost to
a disconnect is redone from the checkpoint of the same step (:func:`pending_evals`).

The protocol (features, sample counts, reference set) is stored with every number and printed
with it: FIDs are only comparable at the same protocol (notebook 06).
"""
from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

import torch

from .config import RunConfig, build_run, resolve
from .data import DATASETS, to_float
from .runtime import ConfigError, atomic_write

EVAL_FILE = "eval.json"
BEST = "best.pt"
#: an EMA generator's BatchNorm statistics are re-estimated from this many batches of this size before
#: each evaluation (gan_utils.models.recompute_batchnorm_stats; 20 x 256 as in notebook 04)
BN_BATCHES, BN_BATCH = 20, 256


# ---------------------------------------------------------------- features
class PixelFeatures:
    """Average-pooled 4x4 pixels (``C * 16`` numbers): a cheap stand-in extractor for smoke runs
    on the synthetic data. Its distance is called ``FD-pixels``; it measures colour layout only and
    is **not** a quality measure to report."""

    name = "pixels 4x4 (avg-pooled)"
    distance_name = "FD-pixels"
    cache_id = None
    batch_size = 1000

    def __init__(self, device=None, channels: int = 3):
        self.device = torch.device("cpu")
        self.dim = channels * 16
        self.min_samples = 16 * self.dim

    @torch.no_grad()
    def __call__(self, images):
        x = to_float(images) if images.dtype == torch.uint8 else images.float()
        x = torch.nn.functional.adaptive_avg_pool2d(x.cpu(), 4)
        return x.flatten(1)


def feature_extractor(opts: dict, device=None, features=None):
    """The feature extractor of a run's evaluation (``features`` overrides ``opts["features"]``).

    "inception" raises :class:`gan_utils.metrics.features.InceptionUnavailableError` offline
    without a weights file, "classifier" a ``FileNotFoundError`` without the classifier weights;
    both messages say what to do.
    """
    from .metrics.features import get_extractor

    if features is not None and not isinstance(features, str):
        return features                      # an extractor instance: used as it is
    rc = RunConfig.from_options({k: v for k, v in opts.items() if k != "features"})
    kind = features or opts.get("features") or rc.feature_kind
    if kind == "pixels":
        return PixelFeatures(channels=rc.channels)
    if rc.dataset == "synthetic" and kind in ("classifier", "auto"):
        raise ConfigError("the synthetic data has no classifier: use features 'inception' or 'pixels'")
    return get_extractor(kind, dataset=rc.dataset, device=device)


# ---------------------------------------------------------------- the evaluation log
def eval_targets(steps: int, eval_every: int) -> list:
    """The steps evaluated in a run: every ``eval_every`` steps and at the last step."""
    if steps < 1 or eval_every < 1:
        raise ConfigError(f"steps={steps} and eval_every={eval_every} must be >= 1")
    return sorted(set(range(eval_every, steps + 1, eval_every)) | {steps})


def pending_evals(done, ckpt_step: int, steps: int, eval_every: int) -> list:
    """The evaluation steps still to do, in order, when a run restarts with its latest checkpoint
    at ``ckpt_step`` and evaluations ``done`` (steps) recorded in eval.json.

    Steps before the checkpoint cannot be evaluated any more (the weights of that step are gone);
    the checkpoint's own step is redone when its evaluation was lost (a disconnect between the
    checkpoint and the eval.json write); a finished run has nothing pending.
    """
    done = set(done)
    return [t for t in eval_targets(steps, eval_every) if t >= ckpt_step and t not in done]


def write_json_atomic(obj, path) -> Path:
    """Serialise first, then write to a temporary file beside ``path`` and rename it over ``path``:
    a crash (or an unserialisable value) never leaves a truncated or half-written file."""
    return atomic_write(Path(path), json.dumps(obj, indent=1))


def read_eval_log(out_dir) -> dict:
    """``out_dir/eval.json`` as a dict (``{"evals": []}`` when there is none)."""
    from .checkpoint import CheckpointError

    path = Path(out_dir) / EVAL_FILE
    if not path.exists():
        return {"evals": []}
    fix = (f"Move it away (the evaluations from the latest checkpoint on are made again; earlier ones are lost) "
           f"or restore a good copy, then run again.")
    try:
        log = json.loads(path.read_text())
    except (OSError, ValueError) as e:                  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CheckpointError(f"{path} cannot be read as the run's evaluation log ({type(e).__name__}: "
                              f"{str(e)[:120]}). {fix}") from None
    evals = log.get("evals") if isinstance(log, dict) else None
    if not isinstance(evals, list) or not all(isinstance(e, dict) and isinstance(e.get("step"), int)
                                              and isinstance(e.get("value"), (int, float)) for e in evals):
        raise CheckpointError(f"{path} is not an evaluation log of gan_utils (a JSON object whose \"evals\" is a list "
                              f"of {{step, value, ...}}). {fix}")
    return log


def _history_seconds(history: dict, cfg, upto: int) -> Optional[float]:
    """Training time of steps 1..upto from the per-step throughput that train() logs
    (``images_per_s``, measured between log flushes, so checkpoints and sample grids count):
    each step took ``batch_size * n_critic / images_per_s`` seconds. ``None`` without that log."""
    ips, steps = history.get("images_per_s"), history.get("step")
    if not ips or not steps or len(ips) != len(steps):
        return None
    per_step = cfg.batch_size * cfg.n_critic
    return float(sum(per_step / v for s, v in zip(steps, ips) if s <= upto and v > 0))


def best_entry(evals: list) -> Optional[dict]:
    """The evaluation with the lowest value (the earliest one on a tie)."""
    return min(evals, key=lambda e: (e["value"], e["step"])) if evals else None


def fid_at_time(evals: list, seconds: float, key: str = "train_seconds") -> float:
    """The metric at ``seconds`` of training time, linearly interpolated between evaluations
    (``nan`` outside the measured range): compares runs at equal compute, not equal steps."""
    pts = sorted((e[key], e["value"]) for e in evals)
    if not pts or seconds < pts[0][0] or seconds > pts[-1][0]:
        return float("nan")
    for (t0, v0), (t1, v1) in zip(pts, pts[1:]):
        if t0 <= seconds <= t1:
            return v0 if t1 == t0 else v0 + (v1 - v0) * (seconds - t0) / (t1 - t0)
    return pts[-1][1]


# ---------------------------------------------------------------- evaluation
def metric_label(name: str, n: int) -> str:
    """"FID-10k" for 10000 samples, "FD-classifier@256" otherwise."""
    return f"{name}-{n // 1000}k" if n >= 1000 and n % 1000 == 0 else f"{name}@{n}"


def own_batchnorm(generator, seed: int):
    """A copy of the EMA ``generator`` with BatchNorm statistics of its own (BN_BATCHES x BN_BATCH codes seeded
    by ``seed``; :func:`gan_utils.models.recompute_batchnorm_stats`), as every score and picture of it uses."""
    from .models import recompute_batchnorm_stats

    return recompute_batchnorm_stats(generator, n_batches=BN_BATCHES, batch_size=BN_BATCH, seed=seed)


def evaluate(generator, opts: dict, extractor, real_images=None, ema: bool = False, split: str = "train") -> dict:
    """Fréchet distance of ``generator`` (sampled ``n_eval`` times with fixed, seeded noise)
    against the training data (``split="test"``: the test split, as Lucic et al. 2018 score, see
    :func:`score_run`), with its protocol: ``{"value", "metric", "protocol"}``.

    Named datasets use :func:`gan_utils.metrics.fid.fid` (reference statistics cached on disk);
    the synthetic stand-in uses ``real_images`` (the loader's tensor). ``ema=True`` (an EMA
    generator): its BatchNorm running statistics, copied from the raw G, are first re-estimated from
    its own activations (:func:`gan_utils.models.recompute_batchnorm_stats`, notebook 04), on a copy.
    """
    from .metrics.fid import FIDResult, fid, frechet_distance, statistics_of
    from .models import has_batchnorm
    from .train import sample

    rc = RunConfig.from_options({k: v for k, v in opts.items() if k != "features"})
    n_eval, n_ref, seed, dataset = rc.n_eval, rc.n_ref, rc.eval_seed, rc.dataset
    recomputed = ema and has_batchnorm(generator)
    if recomputed:
        generator = own_batchnorm(generator, seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if dataset in DATASETS:
            r = fid(generator, dataset, split=split, n=n_eval, n_real=n_ref, features=extractor, seed=seed)
        else:
            if split != "train":
                raise ConfigError(f"split={split!r}: the {dataset} data has no test split here; score it against 'train'")
            ref = real_images
            if n_ref is not None and n_ref < len(ref):
                idx = torch.randperm(len(ref), generator=torch.Generator().manual_seed(seed))[:n_ref]
                ref = ref[idx.sort().values.to(ref.device)]
            mu_r, sig_r, n_r = statistics_of(ref, extractor)
            mu_f, sig_f, n_f = statistics_of(sample(generator, n_eval, seed=seed), extractor)
            r = FIDResult(value=frechet_distance(mu_f, sig_f, mu_r, sig_r), name=extractor.distance_name,
                          extractor=extractor.name, n_fake=n_f, n_real=n_r, reference=f"{dataset} train")
    label = metric_label(r.name, r.n_fake)
    which = "the EMA generator" if ema else "the generator"
    if recomputed:
        which += f" (BatchNorm statistics recomputed from {BN_BATCHES}x{BN_BATCH} of its own samples)"
    protocol = (f"{label}: {r.extractor} features, {r.n_fake} samples of {which} (seed {seed}) "
                f"vs {r.reference} ({r.n_real} images)")
    biased = any("biased upwards" in str(w.message) for w in caught)
    if biased:
        protocol += "; small n, biased upwards"
    return {"value": float(r.value), "metric": label, "protocol": protocol}


def score_run(run_dir, features="inception", split: str = "test", n_eval: Optional[int] = None,
              n_ref: Optional[int] = None, checkpoint: str = "checkpoint_latest.pt", device=None,
              extractor=None) -> dict:
    """One more score of a run's EMA generator, with another metric than its training curve: by default
    **Inception FID** of ``n_eval`` (the run's, 10 000) samples against the whole **test** split, the
    reference set of Lucic et al. 2018 ("Are GANs Created Equal?"), after the EMA generator's BatchNorm
    statistics are re-estimated (:func:`evaluate` with ``ema=True``). ``scripts/record_run.py --inception``
    stores the result beside the run's FD-classifier curve; notebook 08 reads it.

    ``run_dir`` holds ``run_config.json`` and ``checkpoint`` (the last state, not ``best.pt``, unless you
    ask for it). Returns ``{"step", "value", "metric", "protocol", "seconds", "load_before", "load_after",
    "checkpoint"}``; seconds and load averages say what the evaluation cost on this machine."""
    import os

    from .checkpoint import load_checkpoint, load_generator

    run_dir = Path(run_dir)
    cfg_path = run_dir / "run_config.json"
    if not cfg_path.is_file():
        raise ConfigError(f"{run_dir} has no run_config.json: not a run folder of gan_utils.experiment")
    opts = json.loads(cfg_path.read_text())
    opts = {**opts, "n_eval": n_eval or opts.get("n_eval") or RunConfig.from_options(opts).n_eval, "n_ref": n_ref}
    ckpt = run_dir / checkpoint
    G = load_generator(ckpt, ema=True, device=device or "cpu")
    step = int(load_checkpoint(ckpt)["step"])
    ext = extractor if extractor is not None else feature_extractor(opts, device=device, features=features)
    load_before, t0 = os.getloadavg()[0], time.perf_counter()
    ev = evaluate(G, opts, ext, ema=True, split=split)
    return {"step": step, **ev, "seconds": round(time.perf_counter() - t0, 1), "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2), "checkpoint": checkpoint}


# ---------------------------------------------------------------- the result
@dataclass
class ExperimentResult:
    """What :func:`run_experiment` returns. ``evals``: the whole log (all sessions), oldest first."""

    name: str
    out_dir: Path
    config: dict
    evals: list
    metric: str                      # e.g. "FID-10k"
    protocol: str                    # printed with every number
    G_ema: Optional[torch.nn.Module] = None
    history: dict = field(default_factory=dict)
    trained_steps: int = 0           # generator steps trained in this call (0 for a finished run)
    seconds: float = 0.0             # wall time of this call (training + evaluation)
    train_seconds: float = 0.0       # training time summed over every session of the run

    @property
    def best(self) -> Optional[dict]:
        return best_entry(self.evals)

    @property
    def steps(self) -> list:
        return [e["step"] for e in self.evals]

    @property
    def values(self) -> list:
        return [e["value"] for e in self.evals]

    def load_best_generator(self, device="cpu") -> torch.nn.Module:
        """The EMA generator of ``best.pt`` (eval mode)."""
        from .checkpoint import load_generator

        return load_generator(self.out_dir / BEST, ema=True, device=device)

    def summary(self) -> str:
        b = self.best
        if b is None:
            return f"{self.name}: no evaluation yet ({self.out_dir})"
        last = self.evals[-1]
        return (f"{self.name}: best {self.metric} = {b['value']:.2f} at step {b['step']}, last "
                f"{last['value']:.2f} at step {last['step']} [{self.protocol}]")

    def __str__(self) -> str:
        return self.summary()


# ---------------------------------------------------------------- the driver
def run_experiment(config, out_dir, *, eval_every: int | None = None, n_eval: int | None = None,
                   n_ref: int | None = None, features=None, device=None, smoke: bool = False,
                   overrides: dict | None = None, progress: bool = True, verbose: bool = True,
                   callback: Optional[Callable[[dict], None]] = None, after_eval=None) -> ExperimentResult:
    """Train the run of ``config`` (a dict, a path, or a shipped config's name) in ``out_dir``,
    evaluating the EMA generator every ``eval_every`` generator steps, and resume it if
    ``out_dir`` already holds one (see the module docstring).

    ``smoke=True`` applies :data:`gan_utils.config.SMOKE_OVERRIDES` (tiny sizes); ``overrides``
    (e.g. ``{"dataset": "synthetic"}``) and the keyword arguments that are not ``None`` win over
    the file. ``features``: "inception", "classifier", "pixels" or an extractor (default: per
    dataset). ``callback`` is passed to :func:`gan_utils.train.train`; ``after_eval(entry)`` is
    called after each evaluation is recorded.
    """
    from tqdm.auto import tqdm

    from .checkpoint import LATEST, load_checkpoint, save_checkpoint
    from .distributed import is_main, main_lock, on_main, setup
    from .fast import auto_compile
    from .runtime import seed_everything
    from .train import train

    t_start = time.perf_counter()
    opts = resolve(config, smoke=smoke, overrides=overrides, eval_every=eval_every, n_eval=n_eval, n_ref=n_ref,
                   device=None if device is None else str(device),
                   features=features if isinstance(features, str) else None)
    rc = RunConfig.from_options(opts)
    name, steps = rc.name, rc.train.steps
    every = rc.eval_every or steps
    out_dir = Path(out_dir)
    setup(rc.device)                     # torchrun (gan_utils.distributed): rank 0 reads, evaluates and writes
    progress, verbose = progress and is_main(), verbose and is_main()
    on_main(out_dir.mkdir, parents=True, exist_ok=True)

    with main_lock(out_dir):             # one writer for the driver's whole life: training, evaluation, best.pt
        seed_everything(rc.train.seed)
        G, D, loader, cfg = build_run(rc)
        extractor = on_main(feature_extractor, opts, device=loader.device, features=features)  # None on other ranks

        # refuse other settings before anything is written (torchrun: rank 0 reads, every rank gets the answer)
        log, ckpt_step = on_main(_read_run_folder, out_dir, G, D, cfg, loader, share=True)
        evals = [e for e in log.get("evals", []) if e["step"] <= ckpt_step]   # newer than the weights: stale
        if len(evals) < len(log.get("evals", [])) and verbose:
            print(f"note: dropped {len(log['evals']) - len(evals)} evaluation(s) newer than the checkpoint "
                  f"(step {ckpt_step}) from {out_dir / EVAL_FILE}")
        todo = pending_evals([e["step"] for e in evals], ckpt_step, steps, every)
        start_step = ckpt_step
        if cfg.compile is None:      # decided once for the whole run, from the steps it still has to train
            cfg = replace(cfg, compile=auto_compile(loader.device, steps - ckpt_step))
        stored = {k: v for k, v in opts.items() if k != "device"}
        if verbose:
            state = ("finished: nothing to train" if not todo and ckpt_step >= steps else
                     f"resuming at step {ckpt_step}" if ckpt_step else "starting")
            print(f"[{name}] {state}; {steps} steps, evaluation every {every}; run folder {out_dir}")

        feature_name = on_main(lambda: getattr(extractor, "name", str(extractor)), share=True)   # rank 0's extractor
        settings = {"dataset": rc.dataset, "features": feature_name,
                    "n_eval": rc.n_eval, "n_ref": rc.n_ref, "eval_seed": rc.eval_seed}
        if evals and log.get("settings") not in (None, settings):
            raise ConfigError(f"{out_dir / EVAL_FILE} was measured with other evaluation settings:\n"
                              f"  before: {log['settings']}\n  now:    {settings}\nNumbers measured differently "
                              "cannot share a curve: use a new out_dir, or the settings of that run.")
        on_main(write_json_atomic, stored, out_dir / "run_config.json")      # only once the settings were accepted
        metric = log.get("metric")
        protocol = log.get("protocol")
        train_seconds = evals[-1].get("train_seconds", 0.0) if evals else 0.0
        result_train = None
        overall = tqdm(total=steps, initial=ckpt_step, desc=f"{name} (all steps)", unit="step",
                       disable=not progress or not todo, dynamic_ncols=True)

        def evaluate_and_record(target: int, generator, train_seconds: float) -> dict:
            """Measure ``generator`` at step ``target``, keep it as best.pt if it is the best, log it (rank 0)."""
            t_eval = time.perf_counter()
            ev = evaluate(generator, opts, extractor, real_images=loader.images, ema=cfg.ema_decay > 0)
            entry = {"step": target, "value": ev["value"], "metric": ev["metric"], "protocol": ev["protocol"],
                     "train_seconds": round(train_seconds, 3), "eval_seconds": round(time.perf_counter() - t_eval, 3),
                     "time": time.strftime("%Y-%m-%d %H:%M:%S")}
            prev_best = best_entry(evals)
            if prev_best is None or entry["value"] < prev_best["value"]:
                save_checkpoint(sampling_state(load_checkpoint(out_dir / LATEST), entry), out_dir / BEST)
            write_json_atomic({"name": name, "metric": ev["metric"], "protocol": ev["protocol"], "settings": settings,
                               "steps": steps, "eval_every": every, "best": best_entry(evals + [entry]),
                               "evals": evals + [entry]}, out_dir / EVAL_FILE)
            return entry

        for target in todo:
            result_train = train(G, D, loader, replace(cfg, steps=target), out_dir=out_dir, resume=True,
                                 callback=callback, progress=progress)
            measured = _history_seconds(result_train.history, cfg, target)
            if measured is not None:
                train_seconds = measured             # survives disconnects: the history is in the checkpoint
            elif target > ckpt_step:
                train_seconds += result_train.seconds
            ckpt_step = target
            overall.update(target - overall.n)
            # torchrun: rank 0 evaluates and writes while the others wait; every rank gets the entry
            entry = on_main(evaluate_and_record, target, result_train.generator, train_seconds, share=True)
            evals.append(entry)
            metric, protocol = entry["metric"], entry["protocol"]
            best = best_entry(evals)
            overall.set_postfix({metric: f"{entry['value']:.2f}"})
            if verbose:
                tqdm.write(f"[{name}] step {target}/{steps}: {metric} = {entry['value']:.2f} "
                           f"(best {best['value']:.2f} at step {best['step']}) [{protocol}]")
            if after_eval is not None and is_main():
                after_eval(entry)
        overall.close()

        if result_train is None and ckpt_step > 0:
            # nothing (more) to do: load the latest state without training a step
            result_train = train(G, D, loader, replace(cfg, steps=ckpt_step), out_dir=out_dir, resume=True,
                                 progress=False)
        return ExperimentResult(name=name, out_dir=out_dir, config=stored, evals=evals, metric=metric or "",
                                protocol=protocol or "", G_ema=result_train.generator if result_train else None,
                                history=result_train.history if result_train else {},
                                trained_steps=ckpt_step - start_step, seconds=time.perf_counter() - t_start,
                                train_seconds=train_seconds)


def _read_run_folder(out_dir: Path, G, D, cfg, loader):
    """``(eval log, checkpoint step)`` of a run folder; its checkpoint must have been made with the
    settings of this run (:func:`gan_utils.checkpoint.check_resumable`)."""
    from .checkpoint import LATEST, check_resumable, load_checkpoint

    log, ckpt_step = read_eval_log(out_dir), 0
    if (out_dir / LATEST).is_file():
        ck = load_checkpoint(out_dir / LATEST)
        check_resumable(ck, G, D, cfg, loader, out_dir / LATEST)
        ckpt_step = int(ck["step"])
    return log, ckpt_step


def sampling_state(state: dict, entry: dict) -> dict:
    """What ``best.pt`` keeps of a training checkpoint: the EMA generator (the raw one when there
    is no EMA), the configs, the step and its evaluation: a few MB instead of G + D + Adam moments."""
    key = "G_ema" if state.get("G_ema") is not None else "G"
    return {key: state[key], "config": state["config"], "model_config": {"G": state["model_config"]["G"]},
            "data": state.get("data"), "step": state["step"], "eval": dict(entry)}


# ---------------------------------------------------------------- figures
def plot_eval_curves(results: dict, axes=None, title: str = "Sample quality over training"):
    """Two panels: the metric against generator steps, and against training time (the fair
    comparison: a WGAN-GP step costs ``n_critic`` critic updates). ``results``: label ->
    :class:`ExperimentResult` (or its eval list). The best evaluation of each run is starred."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(12, 4))
    metric, protocol = "", ""
    for label, r in results.items():
        evals = r.evals if isinstance(r, ExperimentResult) else list(r)
        if not evals:
            continue
        metric, protocol = evals[-1]["metric"], evals[-1]["protocol"]
        b = best_entry(evals)
        for ax, key, scale in ((axes[0], "step", 1.0), (axes[1], "train_seconds", 1 / 60)):
            xs = [e[key] * scale for e in evals]
            line, = ax.plot(xs, [e["value"] for e in evals], "o-", ms=3, label=label)
            ax.plot([b[key] * scale], [b["value"]], "*", ms=14, color=line.get_color(),
                    label=f"{label} best: {b['value']:.2f} @ step {b['step']}")
    axes[0].set_xlabel("generator step")
    axes[1].set_xlabel("training time (minutes, excluding evaluation)")
    for ax in axes:
        ax.set_ylabel(f"{metric} (lower is better)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_title(f"{title}: per generator step")
    axes[1].set_title(f"{title}: per minute of training")
    fig = axes[0].figure
    fig.suptitle(protocol, fontsize=9)
    fig.tight_layout()
    return axes


def show_best_samples(results: dict, n: int = 64, seed: int = 0, device="cpu", axes=None):
    """Sample grids of the best EMA generators side by side (the same noise for every run), each with its
    BatchNorm statistics re-estimated as for its score (:func:`evaluate`), so the pictures are of what was scored."""
    import matplotlib.pyplot as plt

    from .models import sample
    from .plots import show_images

    if axes is None:
        _, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 6), squeeze=False)
        axes = axes[0]
    for ax, (label, r) in zip(axes, results.items()):
        eval_seed = RunConfig.from_options({k: v for k, v in r.config.items() if k != "features"}).eval_seed
        x = sample(own_batchnorm(r.load_best_generator(device), eval_seed), n, seed=seed)   # same noise for every run
        b = r.best
        show_images(x, nrow=int(math.sqrt(n)), ax=ax,
                    title=f"{label}, step {b['step']}: {r.metric} = {b['value']:.2f}")
    return axes
