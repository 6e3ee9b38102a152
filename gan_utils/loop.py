"""The loop's guarantees, for every model the course trains (taught with the GAN loop in
notebooks/03_mlp_gan.ipynb; used directly by the translators of notebook 11, the sequence GANs of
notebook 13 and the semi-supervised GAN of notebook 14).

:func:`gan_utils.train.train` is the course's GAN loop, with its fast path and ``torchrun``. A
model whose step is not "a D step, a G step on one batch" (two generators and two discriminators,
REINFORCE on token sequences, a K+1-class discriminator) describes its step as a :class:`Task` and
trains in :func:`run_loop`, which gives it the same promises ``train`` keeps::

    for step in range(start, steps):            # a tqdm progress bar
        scalars = task.step(step)                # (1) Update D ... (2) Update G: the task's algorithm
        every log_every steps: one host sync, NaN guard (a loss that is NaN/inf stops the run)
        every ckpt_every steps, at the end, and after Ctrl-C / SIGTERM / SIGHUP: a checkpoint

* one writer per run folder (:class:`gan_utils.checkpoint.RunLock`);
* checkpoints are dicts of state_dicts, RNG states, loader positions and plain config, written
  atomically and loadable with ``weights_only=True``; a NaN weight is never saved;
* ``resume=True`` continues bit-exactly on the CPU from ``out_dir/checkpoint_latest.pt``, and is
  refused (every difference listed) when the task's settings or models changed;
* Ctrl-C, SIGTERM (a scheduler) and SIGHUP (a closed terminal, a dropped ssh) stop after a whole
  step and save it (:class:`StopRequest`, :class:`TrainingInterrupted`).

The shared pieces (:class:`StopRequest`, :class:`ScalarLog`, the errors) are used by ``train`` too:
one home each.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn as nn

from .runtime import ConfigError, UserError, atomic_write, ensure_writable_dir, remove_stale_temp_files

__all__ = ["Task", "LoopResult", "run_loop", "StopRequest", "ScalarLog", "TrainingInterrupted",
           "NonFiniteLossError", "STOP_SIGNALS"]


class NonFiniteLossError(UserError, RuntimeError):
    """A loss or weight became NaN or inf; the message names the step and the last good checkpoint."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT), SIGTERM or SIGHUP stopped the loop after a whole step; ``checkpoint`` is the
    checkpoint it saved at ``step`` (None without ``out_dir``)."""

    def __init__(self, step: int, checkpoint=None):
        self.step, self.checkpoint = step, checkpoint
        where = f"checkpoint saved at {checkpoint}" if checkpoint else "no out_dir, nothing saved"
        super().__init__(f"interrupted after step {step}; {where}")


#: an fp16 GradScaler that skips this many steps in a row is not fighting an overflow but a divergence
MAX_CONSECUTIVE_SKIPS = 30


def _stop_signals() -> tuple:
    import signal

    names = ("SIGINT", "SIGTERM", "SIGHUP")   # SIGHUP: the terminal closed or the ssh session dropped
    return tuple(getattr(signal, n) for n in names if hasattr(signal, n))   # Windows has no SIGHUP


#: the signals that stop a run after a whole step (and save it) instead of killing it
STOP_SIGNALS = _stop_signals()


class StopRequest:
    """While active, SIGINT/SIGTERM/SIGHUP only ask the loop to stop after the current step (so the
    saved state is a whole step); a second Ctrl-C interrupts at once. Inactive outside the main
    thread (signal handlers can only be set there)."""

    def __init__(self):
        self.requested = False
        self._old = {}

    def __enter__(self):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        import signal

        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        import signal

        for sig, old in self._old.items():
            signal.signal(sig, old)


class ScalarLog:
    """Per-step scalars (0-d tensors, kept on the device) buffered and moved to ``history`` with one
    host sync per flush, where every ``loss*`` value is checked: a NaN or inf stops the run with
    :class:`NonFiniteLossError` naming the step. ``reduce(table, stop) -> (table, stop)`` is applied
    to the ``(keys, steps)`` table before the sync (under torchrun: the mean over ranks)."""

    def __init__(self, history: Optional[dict] = None, reduce=None, last_good: Callable[[], str] = lambda: "none saved",
                 items_per_step: Optional[int] = None, rate_name: str = "items_per_s"):
        self.history = history if history is not None else {}
        self.buffer: list = []
        self.reduce = reduce
        self.last_good = last_good
        self.items_per_step = items_per_step      # images (or sequences) per step: logs the throughput
        self.rate_name = rate_name                # its history key (train(): "images_per_s")
        self.t_flush = time.perf_counter()
        self._streaks: dict = {}                  # loss name -> steps skipped in a row by the fp16 scaler

    def append(self, scalars: dict) -> None:
        self.buffer.append(scalars)

    def _check(self, name: str, losses: list, skipped, first_step: int) -> None:
        """The NaN guard for one loss over the flushed steps. Under fp16 a GradScaler skips a step whose
        gradients overflowed (``skipped_X`` > 0 for ``loss_X``; the penalties' inner gradients overflow
        first, and then the loss itself is inf): that step changed nothing, so it is counted, not a
        divergence, unless :data:`MAX_CONSECUTIVE_SKIPS` steps in a row are skipped (the scale halves at
        each, so by then it is the model, not the scale)."""
        for i, v in enumerate(losses):
            skip = skipped is not None and skipped[i] > 0
            streak = self._streaks.get(name, 0) + 1 if skip else 0
            self._streaks[name] = streak
            if streak > MAX_CONSECUTIVE_SKIPS:
                raise NonFiniteLossError(f"the fp16 gradient scaler skipped {streak} steps in a row up to step "
                                         f"{first_step + i} ({name} = {v}): training diverged. Last good checkpoint: "
                                         f"{self.last_good()}. Lower the learning rates, or train with "
                                         "precision='fp32'.")
            if not math.isfinite(v) and not skip:
                raise NonFiniteLossError(f"{name} became {v} at step {first_step + i}; training stopped. Last good "
                                         f"checkpoint: {self.last_good()}. Lower the learning rates or check the "
                                         "data range.")

    def flush(self, step: int, stop: bool = False) -> bool:
        """Move the buffer (steps ``step - n + 1 .. step``) to the history; returns ``stop`` (under
        torchrun: True when any rank asked to stop)."""
        if not self.buffer:
            return stop
        now, n = time.perf_counter(), len(self.buffer)
        keys = list(self.buffer[0])
        table = torch.stack([torch.stack([torch.as_tensor(b[k]).float() for b in self.buffer]) for k in keys])
        if self.reduce is not None:
            table, stop = self.reduce(table, stop)
        values = dict(zip(keys, table.cpu().tolist()))   # the one host sync
        for name in keys:
            if name.startswith("loss"):
                self._check(name, values[name], values.get("skipped" + name[len("loss"):]), step - n + 1)
        self.history.setdefault("step", []).extend(range(step - n + 1, step + 1))
        for k, v in values.items():
            self.history.setdefault(k, []).extend(v)
        if self.items_per_step:
            ips = n * self.items_per_step / max(now - self.t_flush, 1e-9)
            self.history.setdefault(self.rate_name, []).extend([ips] * n)
        self.buffer, self.t_flush = [], now
        return stop


# ----------------------------------------------------------------------------- the task
class Task:
    """One model's training step and everything a checkpoint must hold to continue it.

    Subclasses set ``kind`` (a name stored in checkpoints, e.g. ``"cyclegan"``) and ``config`` (a
    dataclass of the run's settings: a resume with other values is refused, except the fields in
    ``may_change_on_resume``), and implement:

    * :meth:`modules` -- ``{name: nn.Module}``: every model trained or averaged (saved, checked finite);
    * :meth:`optimizers` -- ``{name: Optimizer}``;
    * :meth:`step` -- one training step, returning 0-d tensors (no ``.item()``: the loop syncs once
      per flush); losses are named ``loss_*`` (the NaN guard checks those).

    and, where they apply: :meth:`loaders` (``{name: loader}`` with ``state_dict``/
    ``load_state_dict``: their positions are saved, so a resume sees the same batches),
    :meth:`extra_state`/:meth:`load_extra_state` (any other state: an image pool, a reference batch;
    tensors and plain Python only), :meth:`model_config` (the constructor arguments that rebuild the
    models, e.g. for a ``translate`` or ``sample`` command), :meth:`data_identity` (what the data
    was: a resume on other data is refused), :meth:`snapshot` (called at ``sample_every`` and at the
    end: grids, samples). Random draws inside :meth:`step` must come from torch's global RNG (its
    state is saved) or from state returned by :meth:`extra_state`.
    """

    kind: str = "task"
    config = None
    #: config fields a resume may change: how long, how often it logs and saves
    may_change_on_resume: tuple = ("steps", "log_every", "ckpt_every", "sample_every")

    def modules(self) -> dict:
        raise NotImplementedError

    def optimizers(self) -> dict:
        raise NotImplementedError

    def step(self, step: int) -> dict:
        raise NotImplementedError

    def loaders(self) -> dict:
        return {}

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def model_config(self) -> dict:
        return {name: dict(getattr(m, "config", {})) for name, m in self.modules().items()}

    def data_identity(self) -> Optional[dict]:
        from .checkpoint import data_identity

        ids = {name: data_identity(l) for name, l in self.loaders().items()}
        return ids if any(v is not None for v in ids.values()) else None

    def snapshot(self, step: int, out_dir: Optional[Path]) -> None:
        pass

    def items_per_step(self) -> Optional[int]:
        """Images or sequences one step consumes (for the throughput log); None: not logged."""
        return None

    # -------------------------------------------------------------- checkpoint state
    def config_dict(self) -> dict:
        cfg = self.config
        if cfg is None:
            return {}
        return asdict(cfg) if is_dataclass(cfg) else dict(cfg)

    def state_dict(self) -> dict:
        device = _device_of(self)
        return {
            "kind": self.kind,
            "modules": {k: _bare(m).state_dict() for k, m in self.modules().items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
            "loaders": {k: l.state_dict() for k, l in self.loaders().items() if hasattr(l, "state_dict")},
            "extra": self.extra_state(),
            "config": self.config_dict(),
            "model_config": self.model_config(),
            "data": self.data_identity(),
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None},
        }

    def load_state_dict(self, state: dict) -> None:
        from .checkpoint import load_model_state

        for k, m in self.modules().items():
            load_model_state(m, state["modules"][k])
        for k, o in self.optimizers().items():
            o.load_state_dict(state["optimizers"][k])
        for k, l in self.loaders().items():
            if k in state.get("loaders", {}) and hasattr(l, "load_state_dict"):
                l.load_state_dict(state["loaders"][k])
        self.load_extra_state(state.get("extra") or {})
        torch.set_rng_state(state["rng"]["torch"].cpu())
        device = _device_of(self)
        if device.type == "cuda" and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(state["rng"]["cuda"].cpu(), device)

    def check_resumable(self, state: dict, path) -> None:
        """Refuse (:class:`gan_utils.checkpoint.CheckpointError`, every difference listed) a
        checkpoint of another kind of task, other models, other data or other settings."""
        from .checkpoint import CheckpointError, setting_diffs

        if state.get("kind") != self.kind:
            raise CheckpointError(f"{path} is a checkpoint of a {state.get('kind')!r} run, not of a {self.kind!r} "
                                  "run: use another output folder, or the command that made it.")
        diffs = setting_diffs(state.get("model_config") or {}, self.model_config(), state.get("config") or {},
                              self.config_dict(), self.may_change_on_resume)
        saved_data, now_data = state.get("data"), self.data_identity()
        if saved_data is not None and now_data is not None and saved_data != now_data:
            diffs.append(f"data: checkpoint {saved_data} vs now {now_data}")
        if diffs:
            raise CheckpointError(f"The checkpoint {path} was made with other settings, and resuming would not "
                                  "continue that run:\n  " + "\n  ".join(diffs) + "\nUse the same settings as "
                                  f"that run (only {', '.join(self.may_change_on_resume)} may change), or a new "
                                  "output folder.")


def _bare(m):
    from .checkpoint import bare_module

    return bare_module(m)


def _device_of(task: Task) -> torch.device:
    for m in task.modules().values():
        p = next(iter(m.parameters()), None)
        if p is not None:
            return p.device
    return torch.device("cpu")


@dataclass
class LoopResult:
    task: Task
    history: dict = field(default_factory=dict)        # name -> list of per-step floats; "step" too
    step: int = 0                                      # the step the loop stopped at
    seconds: float = 0.0                               # wall time of this call
    out_dir: Optional[Path] = None


# ----------------------------------------------------------------------------- the loop
def run_loop(task: Task, steps: int, *, out_dir=None, resume: bool = False, log_every: int = 50,
             ckpt_every: int = 0, sample_every: int = 0, progress: bool = True,
             callback: Optional[Callable[[dict], None]] = None, desc: Optional[str] = None) -> LoopResult:
    """Train ``task`` until step ``steps`` (see the module docstring for the promises).

    ``out_dir``: checkpoints (``checkpoint_latest.pt`` every ``ckpt_every`` steps, 0 = only at the end,
    and when a stop signal arrives), ``history.json``; one writer per folder. ``resume=True`` continues
    from ``out_dir/checkpoint_latest.pt`` when it exists. ``callback(info)`` after every log flush with
    ``info = {"step", "history", "task"}``. ``sample_every``: :meth:`Task.snapshot` interval (and at
    the end).
    """
    from tqdm.auto import tqdm

    from .checkpoint import LATEST, RunLock, all_finite, load_checkpoint, save_checkpoint

    for name, v in (("steps", steps), ("log_every", log_every)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"{name}={v!r} must be a whole number >= 1")
    for name, v in (("ckpt_every", ckpt_every), ("sample_every", sample_every)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ConfigError(f"{name}={v!r} must be a whole number >= 0 (0 = only at the end)")
    if resume and out_dir is None:
        raise ConfigError("resume=True needs out_dir (where checkpoint_latest.pt lives)")
    t0 = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else None
    lock = None
    if out is not None:
        ensure_writable_dir(out, "run folder")
        lock = RunLock(out).__enter__()                    # one writer per run folder
    try:
        if out is not None:
            remove_stale_temp_files(out, LATEST)          # left by a writer killed mid-save
        history: dict = {}
        start = 0
        path = out / LATEST if out is not None else None
        if resume and path.exists():
            ck = load_checkpoint(path)
            task.check_resumable(ck, path)
            task.load_state_dict(ck)
            start, history = int(ck["step"]), {k: list(v) for k, v in ck.get("history", {}).items()}
            if start > steps:
                raise ConfigError(f"{path} is already at step {start}, past steps={steps}: ask for more steps to "
                                  "continue it, or use another output folder")

        def last_good() -> str:
            return str(path) if path is not None and path.exists() else "none saved"

        log = ScalarLog(history, last_good=last_good, items_per_step=task.items_per_step())

        def save(step: int) -> None:
            if not all_finite(*task.modules().values()):
                raise NonFiniteLossError(f"a weight became NaN or inf at step {step} (the losses were still finite); "
                                         f"nothing was saved. Last good checkpoint: {last_good()}. Lower the "
                                         "learning rates or check the data range.")
            save_checkpoint({**task.state_dict(), "step": step, "history": history}, path)

        with StopRequest() as stop:
            bar = tqdm(range(start, steps), initial=start, total=steps, desc=desc or f"train {task.kind}",
                       disable=not progress, dynamic_ncols=True)
            for step in bar:
                log.append(task.step(step))                        # (1) Update D ... (2) Update G
                done = step + 1
                last = done == steps
                ckpt = out is not None and (last or (ckpt_every and done % ckpt_every == 0))
                if last or ckpt or done % log_every == 0 or stop.requested:
                    log.flush(done)                                # NaN guard, before any save
                    if callback is not None:
                        callback({"step": done, "history": history, "task": task})
                    losses = {k: v[-1] for k, v in history.items() if k.startswith("loss")}
                    if losses:
                        bar.set_postfix({k: f"{v:.3f}" for k, v in list(losses.items())[:3]})
                if last or (sample_every and done % sample_every == 0):
                    task.snapshot(done, out)
                if ckpt or (stop.requested and out is not None):
                    save(done)
                if stop.requested and not last:                    # keep this whole step, then stop
                    bar.close()
                    raise TrainingInterrupted(done, path if out is not None else None)
            bar.close()
        if out is not None:
            atomic_write(out / "history.json", _json(history))
    finally:
        if lock is not None:
            lock.__exit__(None, None, None)
    return LoopResult(task=task, history=history, step=max(start, steps), seconds=time.perf_counter() - t0,
                      out_dir=out)


def _json(obj) -> str:
    import json

    return json.dumps(obj)
