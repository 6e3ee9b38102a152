"""Checkpoints: plain dicts of state_dicts + config, loadable with ``torch.load(weights_only=True)``.

Taught in notebooks/04_dcgan.ipynb (save, load, resume) and used by 06 (evaluate the DCGAN) and
08 (survive a Colab disconnect). Files are written atomically (:func:`gan_utils.runtime.atomic_write`),
so a run killed mid-save never leaves a truncated checkpoint behind, and every tensor is saved in
the standard (NCHW, contiguous) layout, so a checkpoint written by the fast path (channels_last)
resumes under any other plan and the other way round.

:func:`training_state` and :func:`restore_training` are the two halves of resuming that
:func:`gan_utils.train.train` calls; :func:`check_resumable` refuses a resume whose settings would
change the run (the list of what may change is :data:`MAY_CHANGE_ON_RESUME`).

Checkpoints hold the bare models' state_dicts: the wrappers that prefix the keys
(DistributedDataParallel's ``module.``, ``torch.compile``'s ``_orig_mod.``, the fast path's
FastModule) are taken off before saving (:func:`bare_module`), and a state_dict that still carries
such a prefix (another program's DDP checkpoint) loads all the same (:func:`load_model_state`). So a
checkpoint written under ``torchrun`` loads in one process and the other way round.
"""
from __future__ import annotations

import math
from dataclasses import asdict, fields
from pathlib import Path

import torch

from .runtime import UserError, atomic_write

FORMAT = "gan_course/checkpoint-v1"
LATEST = "checkpoint_latest.pt"

#: TrainConfig fields a resumed run may change: how long, how often it logs/saves, how fast it runs.
#: Every other field (loss, learning rates, betas, batch size, seed, EMA decay...) changes the run
#: itself, and a resume with another value is refused instead of half-applied.
MAY_CHANGE_ON_RESUME = ("steps", "log_every", "sample_every", "ckpt_every", "grad_norms", "fast", "compile",
                        "precision", "sync_batchnorm")
#: sync_batchnorm may change because the number of processes may (a one-process run resumed under torchrun
#: with SyncBatchNorm keeps its BatchNorm statistics over the same global batch: gan_utils.distributed)

#: prefixes that wrappers add to state_dict keys: DistributedDataParallel / DataParallel and the fast
#: path's FastModule ("module."), torch.compile ("_orig_mod.")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def bare_module(model):
    """``model`` without the wrappers that prefix its state_dict keys (DistributedDataParallel,
    DataParallel, torch.compile's OptimizedModule, the fast path's FastModule); ``model`` itself when
    it has none."""
    from torch.nn.parallel import DataParallel, DistributedDataParallel

    while True:
        inner = getattr(model, "_orig_mod", None)           # torch.compile
        if inner is None and (isinstance(model, (DistributedDataParallel, DataParallel))
                              or type(model).__name__ == "FastModule"):
            inner = model.module
        if not isinstance(inner, torch.nn.Module):
            return model
        model = inner


def load_model_state(model, state: dict) -> None:
    """``model.load_state_dict(state)`` for a bare or wrapped ``model`` and a state_dict with or without
    wrapper prefixes (``module.``, ``_orig_mod.``): a checkpoint of a DDP run loads in one process and
    the other way round. A prefix is removed only when every key has it and the model's keys do not."""
    model = bare_module(model)
    mine = set(model.state_dict())
    state = dict(state)
    while state and not (set(state) & mine):
        prefix = next((p for p in WRAPPER_PREFIXES if all(k.startswith(p) for k in state)), None)
        if prefix is None:
            break
        state = {k[len(prefix):]: v for k, v in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:             # missing/unexpected keys, size mismatch
        detail = next((line.strip() for line in str(e).splitlines()[1:] if line.strip()), str(e))
        raise CheckpointError(f"the saved weights do not fit {type(model).__name__} as its config builds it ({detail[:200]}"
                              "): the checkpoint was edited, or its weights and its config come from different runs. "
                              "Use a checkpoint as its run wrote it.") from None


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be used here; the message says why and what to do."""


def _contiguous(obj):
    """``obj`` (nested dicts/lists of tensors) with every tensor in the standard contiguous layout."""
    if torch.is_tensor(obj):
        return obj.detach().contiguous()
    if isinstance(obj, dict):
        return {k: _contiguous(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_contiguous(v) for v in obj)
    return obj


def save_checkpoint(state: dict, path) -> Path:
    """Write ``state`` to ``path`` atomically, every tensor contiguous (layout-neutral)."""
    payload = _contiguous({"format": FORMAT, **state})
    return atomic_write(Path(path), lambda f: torch.save(payload, f))


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True`` (no arbitrary code runs) and check its format."""
    path = Path(path)
    if path.is_dir():
        path = path / LATEST
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}. Train first (python -m gan_utils train ... "
                              "--out DIR) or pass the path of an existing .pt file.")
    try:
        with open(path, "rb") as f:      # permissions, an I/O error: the file itself may be fine
            f.read(1)
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file (a truncated one: OSError EINVAL)
        text = str(e).lower()
        if "global" in text or "unsupported class" in text:
            # never suggest weights_only=False: that is exactly how a malicious file runs code
            raise CheckpointError(f"{path} holds Python objects other than tensors, numbers and plain "
                                  "containers, so it was not loaded (loading it could run code; a gan_utils "
                                  "checkpoint never holds any). Use a checkpoint written by gan_utils.") from None
        raise CheckpointError(f"{path} is not a readable gan_utils checkpoint: truncated or not a torch file "
                              f"({type(e).__name__}). Delete it and train again, or point to another file.") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path} is not a gan_utils checkpoint (format {found!r}, expected {FORMAT!r}).")
    return state


def load_generator(path, ema: bool = True, device="cpu") -> torch.nn.Module:
    """Rebuild the (EMA) generator of a checkpoint, in eval mode, on ``device``."""
    from .models import build_model

    state = load_checkpoint(path, map_location=device)
    g_config = (state.get("model_config") or {}).get("G")
    if not g_config:
        raise CheckpointError(f"{path} has no model_config['G'] (the generator's constructor arguments), so the "
                              "generator cannot be rebuilt; it was not written by gan_utils.train.")
    try:
        G = build_model(g_config)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot rebuild its generator from {g_config} ({e}).") from None
    key = "G_ema" if ema and state.get("G_ema") is not None else "G"
    if state.get(key) is None:
        raise CheckpointError(f"{path} holds only the EMA generator (a best.pt keeps what sampling needs); "
                              "use ema=True (the CLI without --raw), or checkpoint_latest.pt for the raw G.")
    load_model_state(G, state[key])
    return G.to(device).eval()


# ---------------------------------------------------------------- resuming a training run
def training_state(*, step: int, cfg, G, D, ema, opt_g, opt_d, fixed_noise, history: dict, loader=None,
                   device=None) -> dict:
    """Everything :func:`gan_utils.train.train` needs to continue bit-exactly from ``step``."""
    device = torch.device(device) if device is not None else fixed_noise.device
    G, D = bare_module(G), bare_module(D)                   # no "module." / "_orig_mod." prefixes
    return {
        "G": G.state_dict(), "D": D.state_dict(),
        "G_ema": bare_module(ema.model).state_dict() if ema is not None else None,
        "ema_updates": ema.updates if ema is not None else 0,
        "opt_G": opt_g.state_dict(), "opt_D": opt_d.state_dict(),
        "config": asdict(cfg),
        "model_config": {"G": dict(getattr(G, "config", {})), "D": dict(getattr(D, "config", {}))},
        "num_classes": getattr(G, "num_classes", None),     # class-conditional G (notebook 09); None: unconditional
        "data": data_identity(loader),
        "step": step, "fixed_noise": fixed_noise.cpu(), "history": history,
        "rng": {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None},
        "loader": loader.state_dict() if hasattr(loader, "state_dict") else None,
    }


def data_identity(loader) -> dict | None:
    """What the data of a run was (name, size, image shape), stored so a resume on other data is refused."""
    ident = getattr(loader, "identity", None)
    return ident() if callable(ident) else None


def setting_diffs(saved_models: dict, now_models: dict, saved_cfg: dict, now_cfg: dict, may_change=()) -> list:
    """Every difference between a checkpoint's model constructor arguments and run settings and
    today's, as lines ``"role.key: checkpoint X vs now Y"``. Fields in ``may_change`` are not
    compared, nor a field of ``now_cfg`` that ``saved_cfg`` lacks (newer than the checkpoint: put its
    default in ``saved_cfg`` first where the default is what the checkpoint ran with)."""
    diffs = []
    for role in sorted(set(saved_models) | set(now_models)):
        saved, now = saved_models.get(role) or {}, now_models.get(role) or {}
        for k in sorted(set(saved) | set(now)):
            if saved.get(k) != now.get(k):
                diffs.append(f"{role}.{k}: checkpoint {saved.get(k)!r} vs now {now.get(k)!r}")
    for name, now in now_cfg.items():
        if name in may_change or name not in saved_cfg:
            continue
        then = saved_cfg[name]
        then, now = (tuple(then) if isinstance(then, list) else then), (tuple(now) if isinstance(now, list) else now)
        if not _same(then, now):
            diffs.append(f"config.{name}: checkpoint {then!r} vs now {now!r}")
    return diffs


def check_resumable(ck: dict, G, D, cfg, loader, path) -> None:
    """Refuse to resume from ``ck`` when the models, the data or any setting that changes the run
    differ from now (every difference is listed); see :data:`MAY_CHANGE_ON_RESUME`."""
    now_models = {role: dict(getattr(bare_module(model), "config", {})) for role, model in (("G", G), ("D", D))}
    saved_models = {role: (ck.get("model_config") or {}).get(role, {}) for role in ("G", "D")}
    saved_cfg = dict(ck.get("config") or {})
    for f in fields(cfg):                        # a field newer than the checkpoint: its default then
        saved_cfg.setdefault(f.name, f.default)
    diffs = setting_diffs(saved_models, now_models, saved_cfg, {f.name: getattr(cfg, f.name) for f in fields(cfg)},
                          MAY_CHANGE_ON_RESUME)
    saved_data, now_data = ck.get("data"), data_identity(loader)
    if saved_data is not None and now_data is not None and saved_data != now_data:
        diffs.append(f"data: checkpoint {saved_data} vs now {now_data}")
    if int(ck.get("step", 0)) > cfg.steps:               # a resume never goes back in time
        raise CheckpointError(f"{path} is already at step {int(ck['step'])}, past steps={cfg.steps}: to continue it, ask "
                              f"for more steps (--steps N with N > {int(ck['step'])}); or use another output folder")
    if diffs:
        raise CheckpointError(f"The checkpoint {path} was made with other settings, and resuming would not continue "
                              "that run:\n  " + "\n  ".join(diffs) + "\nUse the same settings as that run (only "
                              f"{', '.join(MAY_CHANGE_ON_RESUME)} may change), or a new output folder.")


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=0, abs_tol=0) or float(a) == float(b)
        except (TypeError, ValueError):
            return a == b
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def restore_training(ck: dict, *, G, D, ema, opt_g, opt_d, loader=None, device=None) -> dict:
    """Load ``ck`` into the models, optimisers, EMA, RNGs and loader; returns
    ``{"step", "fixed_noise", "history"}``. Call :func:`check_resumable` first."""
    device = torch.device(device) if device is not None else next(G.parameters()).device
    load_model_state(G, ck["G"])                             # with or without wrapper prefixes
    load_model_state(D, ck["D"])
    opt_g.load_state_dict(ck["opt_G"])
    opt_d.load_state_dict(ck["opt_D"])
    if ema is not None and ck.get("G_ema") is not None:
        load_model_state(ema.model, ck["G_ema"])
        ema.updates = ck.get("ema_updates", 0)
    torch.set_rng_state(ck["rng"]["torch"].cpu())
    if device.type == "cuda" and ck["rng"].get("cuda") is not None:
        torch.cuda.set_rng_state(ck["rng"]["cuda"].cpu(), device)
    if ck.get("loader") is not None and hasattr(loader, "load_state_dict"):
        loader.load_state_dict(ck["loader"])
    return {"step": int(ck["step"]), "fixed_noise": ck["fixed_noise"].to(device),
            "history": {k: list(v) for k, v in ck.get("history", {}).items()}}


def all_finite(*modules) -> bool:
    """True when every parameter and buffer of ``modules`` is finite (checked before every save: a
    NaN weight is never written as a good checkpoint)."""
    tensors = [t for m in modules if m is not None for t in (*m.parameters(), *m.buffers())
               if t.is_floating_point()]
    if not tensors:
        return True
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


# ---------------------------------------------------------------- one writer per run folder
LOCK = ".run.lock"
#: the holder of a lock refreshes its modification time (its heartbeat) this often, from a thread
HEARTBEAT_S = 30.0
#: a lock whose heartbeat is older than this is stale: its writer died with its machine (a Colab
#: disconnect leaves the lock of a dead VM on Drive), whatever host it names
STALE_AFTER_S = 180.0


class RunLock:
    """``with RunLock(out_dir):`` this process is the only one writing ``out_dir``.

    The lock is a file holding the writer's host name and PID, created exclusively, whose
    modification time the holder refreshes every :data:`HEARTBEAT_S` seconds. Another writer is
    refused while the lock is alive, with the holder named and how to take the lock over by hand. A
    lock is stale, and taken over, when its heartbeat is older than :data:`STALE_AFTER_S` (a run on
    another machine that died: Colab's VM after a disconnect) or when it names a process of this host
    that no longer runs (a kill, a reboot). Re-entrant within one process (run_experiment holds it
    around the train() calls that take it again)."""

    _held: dict = {}

    def __init__(self, out_dir):
        self.path = Path(out_dir) / LOCK

    def _owner(self):
        try:
            host, pid = self.path.read_text().split()
            return host, int(pid)
        except (OSError, ValueError, UnicodeDecodeError):
            return None

    @staticmethod
    def _alive(pid: int) -> bool:
        import os

        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except (PermissionError, OverflowError):
            return True
        return True

    def _age(self) -> float:
        import time

        try:
            return max(0.0, time.time() - self.path.stat().st_mtime)
        except OSError:
            return 0.0

    def _refuse_or_take_over(self) -> None:
        """Called when the lock file exists: raise if it is alive, else remove it (stale)."""
        import os
        import socket
        import time

        if self.path.is_dir() or (self.path.exists() and not self.path.is_file()):
            raise CheckpointError(f"{self.path} is not a lock file (a folder or a special file is in its place): remove "
                                  f"it (rm -r '{self.path}') if no run is using {self.path.parent}, then run again.")
        owner, age = self._owner(), self._age()
        take_over = (f"If you are sure no run is using {self.path.parent}, delete the lock (rm '{self.path}') and "
                     "run again.")
        if owner is None:
            if age < 2.0:                                   # being written right now by another writer
                time.sleep(0.5)
                owner, age = self._owner(), self._age()
            if owner is None and age < 2.0:
                raise CheckpointError(f"another run is taking the lock {self.path} right now. {take_over}")
        elif age <= STALE_AFTER_S:
            host, pid = owner
            here = host == socket.gethostname()
            if here and pid == os.getpid():
                pass                                        # a lock of this process that was not released: ours
            elif not here:
                raise CheckpointError(
                    f"{self.path.parent} is locked by process {pid} on host {host}, whose last heartbeat was "
                    f"{age:.0f} s ago. A lock is taken over by itself once its heartbeat is older than "
                    f"{STALE_AFTER_S:.0f} s (a run whose machine died, e.g. Colab after a disconnect): run again in "
                    f"{STALE_AFTER_S - age + 1:.0f} s. {take_over}")
            elif self._alive(pid):
                raise CheckpointError(
                    f"{self.path.parent} is being written by another run (process {pid}, heartbeat {age:.0f} s ago); two "
                    "runs in one folder would overwrite each other's checkpoints. Wait for it to finish, stop it, or "
                    f"use another output folder. (If process {pid} is not a gan_utils run, its number was reused: "
                    f"{take_over[0].lower() + take_over[1:]})")
        try:
            self.path.unlink()                              # stale: its writer is gone
        except FileNotFoundError:
            pass

    def __enter__(self):
        import os
        import socket

        key = str(self.path.resolve())
        if RunLock._held.get(key):
            RunLock._held[key] += 1
            return self
        me = f"{socket.gethostname()} {os.getpid()}"
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._refuse_or_take_over()
                continue
            with os.fdopen(fd, "w") as f:
                f.write(me)
            RunLock._held[key] = 1
            self._start_heartbeat()
            return self
        raise CheckpointError(f"could not take the lock {self.path}; delete it if no run is using that folder.")

    def _start_heartbeat(self) -> None:
        import os
        import threading

        stop, path = threading.Event(), self.path

        def beat():
            while not stop.wait(HEARTBEAT_S):
                try:
                    os.utime(path)
                except OSError:
                    pass

        threading.Thread(target=beat, name=f"heartbeat {path}", daemon=True).start()
        RunLock._beats[str(path.resolve())] = stop

    _beats: dict = {}

    def __exit__(self, *exc):
        key = str(self.path.resolve())
        RunLock._held[key] -= 1
        if RunLock._held[key] == 0:
            del RunLock._held[key]
            stop = RunLock._beats.pop(key, None)
            if stop is not None:
                stop.set()
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
