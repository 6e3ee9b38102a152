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
    model.load_state_dict(state)


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
        state = torch.load(path, map_location=map_location, weights_only=True)
    except OSError as e:  # permissions, a folder, an I/O error: the file itself may be fine
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}") from None
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
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
                   device=None, hist=None) -> dict:
    """Everything :func:`gan_utils.train.train` needs to continue bit-exactly from ``step``; ``hist``: the
    historical averages ``{"G", "D"}`` of notebook 14 (:class:`gan_utils.losses.HistoricalAverage`), or None."""
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
        "hist_avg": {k: h.state_dict() for k, h in hist.items()} if hist else None,
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


def restore_training(ck: dict, *, G, D, ema, opt_g, opt_d, loader=None, device=None, hist=None) -> dict:
    """Load ``ck`` into the models, optimisers, EMA, RNGs, loader and historical averages (``hist``);
    returns ``{"step", "fixed_noise", "history"}``. Call :func:`check_resumable` first."""
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
    if hist:
        saved = ck.get("hist_avg") or {}
        for k, h in hist.items():
            if k not in saved:
                raise CheckpointError("this run averages its parameters (hist_avg_weight > 0) but the checkpoint holds "
                                      "no historical average: it was made without historical averaging")
            h.load_state_dict(saved[k])
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


class RunLock:
    """``with RunLock(out_dir):`` this process is the only one writing ``out_dir``.

    The lock is a file holding the writer's host name and PID, created exclusively; a second
    writer is refused with both PIDs named. A lock left by a process that no longer runs (a kill,
    a reboot) is stale and taken over. Re-entrant within one process (run_experiment holds it
    around the train() calls that take it again)."""

    _held: dict = {}

    def __init__(self, out_dir):
        self.path = Path(out_dir) / LOCK

    def _owner(self):
        try:
            host, pid = self.path.read_text().split()
            return host, int(pid)
        except (OSError, ValueError):
            return None

    @staticmethod
    def _alive(pid: int) -> bool:
        import os

        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def __enter__(self):
        import os
        import socket

        key = str(self.path.resolve())
        if RunLock._held.get(key):
            RunLock._held[key] += 1
            return self
        me = f"{socket.gethostname()} {os.getpid()}"
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is not None and owner[0] == socket.gethostname() and owner[1] != os.getpid() \
                        and self._alive(owner[1]):
                    raise CheckpointError(f"{self.path.parent} is being written by another run (process {owner[1]}); "
                                          "two runs in one folder would overwrite each other's checkpoints. Wait for "
                                          "it to finish, stop it, or use another output folder.") from None
                if owner is not None and owner[0] != socket.gethostname():
                    raise CheckpointError(f"{self.path.parent} is locked by process {owner[1]} on host {owner[0]}; "
                                          f"if no run is active there, delete {self.path}.") from None
                try:
                    self.path.unlink()            # stale: its writer is gone
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as f:
                f.write(me)
            RunLock._held[key] = 1
            return self
        raise CheckpointError(f"could not take the lock {self.path}; delete it if no run is using that folder.")

    def __exit__(self, *exc):
        key = str(self.path.resolve())
        RunLock._held[key] -= 1
        if RunLock._held[key] == 0:
            del RunLock._held[key]
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
