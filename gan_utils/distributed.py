"""Outgrowing one GPU: one run on several processes with ``torchrun`` and DistributedDataParallel
(the appendix ``docs/multi_gpu.md``, linked from notebooks/08_full_training.ipynb)::

    torchrun --standalone --nproc_per_node=4 -m gan_utils run --config wgan_gp_cifar10 --out runs/wgan_gp

torchrun starts one process per GPU (a *rank*) with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and
the rendezvous address in the environment. Every rank builds the same run (same seed, same
models, the whole in-memory dataset); :func:`setup` joins the process group and
:func:`gan_utils.train.train` does the rest through a :class:`Parallel`, which is the identity in
one process. What changes under torchrun:

=======================  =====================================================================
process group            from torchrun's environment: ``nccl`` on CUDA (rank r on
                         ``cuda:LOCAL_RANK``), ``gloo`` on the CPU
G and D                  wrapped in :class:`GANDataParallel` (DistributedDataParallel): the
                         backward averages the gradients of all ranks
batch_size (config)      the **global** batch. Every rank draws the same permutation each epoch
                         and the same global batch from it, and keeps its own slice of
                         ``batch_size / N`` (:meth:`gan_utils.data.InMemoryLoader.shard`)
learning rates           unchanged: the averaged gradient is the gradient of the mean loss over
                         the global batch, the one a single process with ``batch_size`` computes.
                         N GPUs run the same optimisation faster; to train with a bigger batch,
                         raise ``batch_size`` yourself (and retune the rates: see the appendix)
noise z                  every rank draws the *global* batch's z from the shared RNG and keeps its
                         slice: different noise on every rank, and together exactly the noise one
                         process with ``batch_size`` draws. So the RNG stays the same on every
                         rank (one state, saved in checkpoints, resumes under any N)
model init               the same seed on every rank, and DDP broadcasts rank 0's weights when
                         it wraps the models
BatchNorm                per rank by default: statistics of the ``batch_size / N`` samples a
                         rank sees; running statistics follow rank 0 (broadcast after every
                         forward in training mode, so G, D and the EMA generator stay identical
                         on every rank). ``TrainConfig.sync_batchnorm=True`` (CUDA only):
                         SyncBatchNorm, statistics of the global batch as in one process, at the
                         price of two collectives per BatchNorm layer per forward/backward
writes                   rank 0 only: the run-folder lock, checkpoints, history, sample grids,
                         evaluations (:func:`on_main`; the others wait, and rank 0's error, if
                         any, is raised on every rank)
resume                   rank 0 reads the checkpoint and broadcasts it: every rank continues from
                         the same state, with no shared file system needed
Ctrl-C / SIGTERM         agreed at the next log flush (every ``log_every`` steps): every rank stops
                         after the same step and rank 0 saves it
=======================  =====================================================================

The GAN-specific care (each has a test in tests/test_distributed.py):

* The D step's fakes are detached (:func:`gan_utils.train.d_step`), so its backward never reaches
  G's DDP hooks; G's gradients are reduced once, in the G step's backward.
* The G step calls D with ``requires_grad`` off on D's parameters. Through DDP that forward
  prepares D's reducer for a backward in which none of D's gradient hooks fire (its parameters are
  not in the graph). torch 2.14 tolerates it (tried with ``find_unused_parameters`` off and on and
  with ``static_graph``: no error, nothing of D reduced), but it is a forward DDP prepares for a
  backward that never reaches D, which DDP does not promise to support. :class:`GANDataParallel`
  calls the wrapped module directly while every parameter is frozen: D is a fixed function there,
  and DDP has nothing to do.
* The gradient penalty's double backward (and R1's): ``torch.autograd.grad(..., create_graph=True)``
  with respect to the *inputs* runs no parameter's gradient hook, so no all-reduce happens there
  and the inner gradient is this rank's own (the penalty is per sample, so that is what it needs);
  the ordinary ``loss.backward()`` on loss + penalty then reaches every parameter's hook once and
  DDP averages the total. A PyTorch developer calls this the "least bad practice" for gradient
  penalties under DDP (pytorch/pytorch#63812, whose subject is that ``backward(create_graph=True)``
  on a DDP output fails; #63929 lists why: DDP's all-reduce is invisible to autograd). It needs
  every parameter in the graph of the final backward: a loss made of the penalty alone can leave a
  parameter (a bias that only shifts the output) without a hook call and its bucket unreduced
  (#47562; StyleGAN2-ADA adds ``0 * logits`` for that, NVlabs/stylegan2-ada-pytorch#118). d_step
  always adds the penalty to the D loss, which uses every parameter (tested against one process).
* Random draws inside a step other than z (the penalty's interpolation weights, DiffAugment) come
  from the same shared RNG with the per-rank batch size, so sample i of every rank gets the same
  draw. Each sample's draw is still uniform and independent of its own data, so every term keeps
  its expectation; the price is a little correlation between ranks (and, for these terms, no
  bit-for-bit equality with one process).
"""
from __future__ import annotations

import contextlib
import inspect
import os
import warnings
from datetime import timedelta

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from .runtime import ConfigError, UserError

__all__ = ["GANDataParallel", "Parallel", "RankZeroError", "broadcast_object", "is_main", "launched", "main_lock",
           "on_main", "rank", "rank_device", "setup", "shutdown", "world_size"]

#: How long a rank waits in a collective before the job fails: rank 0 evaluates FID alone (about a
#: minute for FID-10k on a GPU, longer the first time, when it computes the reference statistics)
#: while the other ranks wait.
TIMEOUT = timedelta(minutes=60)


# ---------------------------------------------------------------- who am I
def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise UserError(f"{name}={raw!r} is not a whole number (torchrun sets it)") from None


def launched() -> bool:
    """True in a process that torchrun started as one of several (``WORLD_SIZE`` > 1)."""
    return _env_int("WORLD_SIZE", 1) > 1


def _group():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def world_size() -> int:
    """Number of processes in the run (1 outside torchrun, or before :func:`setup`)."""
    d = _group()
    return d.get_world_size() if d is not None else 1


def rank() -> int:
    """This process's rank (0 outside torchrun; torchrun's ``RANK`` before :func:`setup`)."""
    d = _group()
    return d.get_rank() if d is not None else _env_int("RANK", 0)


def is_main() -> bool:
    """True on rank 0, the process that writes."""
    return rank() == 0


def rank_device(device) -> torch.device:
    """This rank's device: ``cuda:LOCAL_RANK`` under torchrun when ``device`` is CUDA without an
    index (one GPU per process); ``device`` otherwise."""
    device = torch.device(device)
    if launched() and device.type == "cuda" and device.index is None:
        local, n = _env_int("LOCAL_RANK", 0), torch.cuda.device_count()
        if local >= n:
            raise UserError(f"torchrun started process {local} on a machine with {n} GPU(s): start one process per "
                            f"GPU (--nproc_per_node={n}), or pass --device cpu")
        return torch.device("cuda", local)
    return device


def setup(device=None) -> torch.device:
    """Join torchrun's process group (once; nothing happens outside torchrun) and return this
    rank's device: ``device`` (None = the best available) placed on ``cuda:LOCAL_RANK`` for CUDA.
    The backend follows the device: ``nccl`` for CUDA, ``gloo`` for the CPU."""
    from .runtime import get_device

    if launched() and _group() is None:
        missing = [v for v in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(v)]
        if missing:
            raise UserError(f"WORLD_SIZE={os.environ['WORLD_SIZE']} is set, but this process was not started by "
                            f"torchrun ({', '.join(missing)} unset): start it with torchrun --nproc_per_node=N -m "
                            "gan_utils ..., or unset WORLD_SIZE to train in one process")
    dev = rank_device(device if isinstance(device, torch.device) else get_device(device))
    if not launched() or _group() is not None:
        return dev
    import torch.distributed as dist

    if not dist.is_available():
        raise UserError("torchrun started several processes, but this torch has no torch.distributed: "
                        "install a build with it (the official wheels have it)")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        backend = "nccl"
    elif dev.type == "cpu":
        backend = "gloo"
    else:
        raise UserError(f"torchrun with device {dev}: several processes need CUDA GPUs (nccl) or the CPU (gloo)")
    dist.init_process_group(backend, timeout=TIMEOUT)
    return dev


def shutdown() -> None:
    """Leave the process group (at the end of a CLI command); nothing outside torchrun."""
    d = _group()
    if d is not None:
        d.destroy_process_group()


# ---------------------------------------------------------------- rank 0 acts, the others follow
class RankZeroError(RuntimeError):
    """What the other ranks raise when rank 0 failed in :func:`on_main` (rank 0 raises the original)."""


class RankZeroUserError(RankZeroError, UserError):
    """:class:`RankZeroError` for an error a user can fix (rank 0's was a :class:`UserError`): the
    CLI exits with status 2 on every rank, and only rank 0 prints the message."""


def _require_group() -> None:
    if launched() and _group() is None:
        raise RuntimeError("gan_utils.distributed.setup() must run before anything that coordinates the "
                           "processes of a torchrun job")


def broadcast_object(obj, src: int = 0):
    """``obj`` of rank ``src`` on every rank (it must pickle); ``obj`` itself in one process."""
    _require_group()
    if world_size() == 1:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def on_main(fn, *args, share: bool = False, **kwargs):
    """``fn(*args, **kwargs)`` on rank 0 only (the writes, the reads of the run folder, evaluation),
    while the other ranks wait for it. If it raises on rank 0, every rank raises (rank 0 the
    original, the others :class:`RankZeroError` with its message; a UserError stays a UserError),
    so no rank is left waiting in a collective for one that has stopped. ``share=True``: every rank
    returns rank 0's result (it must pickle); else the others return None. In one process: ``fn()``."""
    _require_group()
    if world_size() == 1:
        return fn(*args, **kwargs)
    result, failure = None, None
    if is_main():
        try:
            result = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - re-raised below, on every rank
            failure = e
    note = None if failure is None else (isinstance(failure, UserError), f"{type(failure).__name__}: {failure}")
    note, shared = broadcast_object((note, result if share and failure is None else None))
    if failure is not None:
        raise failure
    if note is not None:
        user, message = note
        raise (RankZeroUserError if user else RankZeroError)(f"rank 0 stopped the run: {message}")
    return result if is_main() else shared


@contextlib.contextmanager
def main_lock(out_dir):
    """``with main_lock(out):`` rank 0 holds :class:`gan_utils.checkpoint.RunLock` on ``out`` (the
    one writer of the folder); the other ranks, which never write there, take no lock and so are
    never refused by rank 0's. A refused lock is raised on every rank. In one process: RunLock."""
    from .checkpoint import RunLock

    lock = RunLock(out_dir)
    on_main(lock.__enter__)
    try:
        yield
    finally:
        if is_main():
            lock.__exit__(None, None, None)


# ---------------------------------------------------------------- the wrapped models
def _broadcast_buffers(module: nn.Module) -> None:
    """Every rank takes rank 0's buffers of ``module`` (BatchNorm running statistics, spectral
    norm's power-iteration vectors): one broadcast per dtype."""
    _broadcast_tensors(list(module.buffers()))


def _broadcast_tensors(tensors) -> None:
    """Every rank takes rank 0's values of ``tensors``, in place: one broadcast per dtype and device."""
    import torch.distributed as dist

    groups: dict = {}
    for b in tensors:
        groups.setdefault((b.dtype, b.device), []).append(b)
    main = dist.get_rank() == 0
    for bufs in groups.values():
        flat = torch.cat([b.detach().reshape(-1) for b in bufs])
        dist.broadcast(flat, 0)
        if not main:
            offset = 0
            for b in bufs:
                # through .data: no version bump. BatchNorm's backward keeps the running statistics among its
                # saved tensors (it does not use them in training mode) and would refuse a bumped version.
                b.data.copy_(flat[offset:offset + b.numel()].view(b.shape))
                offset += b.numel()


_DDP_PARAMS = set(inspect.signature(DistributedDataParallel.__init__).parameters)


class GANDataParallel(DistributedDataParallel):
    """DistributedDataParallel for a GAN's G or D (made by :meth:`Parallel.wrap`).

    Two differences from plain DDP, both for the GAN's two-player loop:

    * while *every* parameter is frozen (``requires_grad`` off: D inside the G step), the forward
      calls the wrapped module directly. DDP's forward would prepare D's reducer for a backward in
      which none of D's hooks fire (see the module docstring); D is a fixed function there, so
      there is nothing to reduce, and D's ``.grad`` and buckets keep what the D step left;
    * buffers are broadcast from rank 0 *after* every forward in training mode (``broadcast_buffers``
      is off, it would do so before the next one), so at the end of every step G's and D's
      buffers, hence the EMA generator that copies G's, are the same on every rank.
    """

    def forward(self, *inputs, **kwargs):
        if any(p.requires_grad for p in self.module.parameters()):
            out = super().forward(*inputs, **kwargs)
        else:
            out = self.module(*inputs, **kwargs)     # frozen: no reducer, no gradient, no collective
        if self.module.training:
            _broadcast_buffers(self.module)
        return out


def _swap_batchnorm(models) -> list:
    """Replace every BatchNorm layer in ``models`` by a SyncBatchNorm that shares its parameters and
    buffers; returns ``(parent, name, original)`` for each, to put them back."""
    swaps = []
    for model in models:
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, nn.SyncBatchNorm):
                    setattr(parent, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
                    swaps.append((parent, name, child))
    return swaps


def _restore_batchnorm(swaps) -> None:
    for parent, name, original in reversed(swaps):
        setattr(parent, name, original)              # same parameters and buffers: nothing to copy back


class Parallel:
    """What :func:`gan_utils.train.train` does differently under torchrun; in one process every
    method is the identity (``active`` is False)::

        par = Parallel(device, sync_batchnorm)   # joins torchrun's process group if needed
        data = par.shard(data)                   # this rank's slice of every global batch
        new_z = par.noise(latent_dim)            # this rank's slice of the global batch's z
        with par:                                # every rank continues from rank 0's RNG state
            Gf, Df = par.wrap(Gf, Df)            # GANDataParallel; BatchNorm restored on exit
    """

    def __init__(self, device, sync_batchnorm: bool = False):
        self.device = torch.device(device)
        if launched() and _group() is None:
            setup(self.device)
        self.world, self.rank = world_size(), rank()
        self.active = self.world > 1
        self.is_main = self.rank == 0
        self.sync_batchnorm = bool(sync_batchnorm) and self.active
        if self.sync_batchnorm and self.device.type != "cuda":
            raise ConfigError("sync_batchnorm=True needs CUDA GPUs: torch's SyncBatchNorm has no CPU implementation. "
                              "Leave it off on the CPU (each process then normalises its own part of the batch).")
        self._swaps: list = []
        self.models = None

    # -- data and noise
    def shard(self, data):
        """``data`` for this rank: an InMemoryLoader sharded (:meth:`~gan_utils.data.InMemoryLoader.shard`),
        a DataLoader with a DistributedSampler as it is; anything else is refused (every rank would
        read the same batches)."""
        if not self.active:
            return data
        from .data import InMemoryLoader

        if isinstance(data, InMemoryLoader):
            return data.shard(self.rank, self.world)
        if getattr(getattr(data, "sampler", None), "num_replicas", None) == self.world:
            return data
        raise ConfigError(f"under torchrun, train() needs a gan_utils InMemoryLoader (it gives each process its own "
                          f"part of every batch) or a DataLoader with a DistributedSampler, not a "
                          f"{type(data).__name__}: every process would read the same batches")

    def noise(self, latent_dim: int):
        """``new_z(real)``: latent codes for this rank's batch ``real``. In one process
        ``randn(B, latent_dim)``; under torchrun every rank draws the global batch's
        ``randn(N * B, latent_dim)`` from the shared RNG and keeps rows ``rank * B ...``: different
        noise per rank, the same RNG state on every rank."""
        device = self.device
        if not self.active:
            return lambda real: torch.randn(real.shape[0], latent_dim, device=device)
        world, r = self.world, self.rank

        def new_z(real):
            b = real.shape[0]
            z = torch.randn(world * b, latent_dim, device=device)   # (N*B, latent): the global batch's noise
            return z[r * b:(r + 1) * b]                              # -> (B, latent): this rank's rows
        return new_z

    # -- the models
    def same_start(self, *models) -> None:
        """Every rank takes rank 0's parameters and buffers of ``models``, before anything copies
        them (the EMA generator does, before DDP would broadcast): the ranks start alike even
        if they built their models from different seeds."""
        if self.active:
            _broadcast_tensors([t for m in models for t in (*m.parameters(), *m.buffers())])

    def __enter__(self) -> "Parallel":
        if self.active:                              # e.g. rank 0 alone evaluated since the last call
            cuda = self.device.type == "cuda"
            state = broadcast_object((torch.get_rng_state(), torch.cuda.get_rng_state(self.device) if cuda else None))
            torch.set_rng_state(state[0])
            if cuda:
                torch.cuda.set_rng_state(state[1], self.device)
        return self

    def wrap(self, G: nn.Module, D: nn.Module):
        """``(G, D)`` wrapped in :class:`GANDataParallel` (after the fast path's compile warm-up,
        which never sees DDP); as they are in one process. With ``sync_batchnorm`` their BatchNorm
        layers become SyncBatchNorm until the ``with`` block ends (a compiled model runs eagerly
        then: compiled graphs around SyncBatchNorm's collectives were not tested here)."""
        if not self.active:
            return G, D
        if self.sync_batchnorm:
            for m in (G, D):
                if getattr(m, "compiled", False):
                    m.set_run(m.module)
                    warnings.warn("sync_batchnorm: this model runs eagerly instead of compiled", RuntimeWarning)
            self._swaps = _swap_batchnorm((G, D))
        kw = {"device_ids": [self.device.index] if self.device.type == "cuda" else None}
        # no buffer broadcast before each forward: GANDataParallel broadcasts after it (newer torch
        # spells the flag forward_sync_buffers; both still broadcast rank 0's buffers when wrapping)
        kw["forward_sync_buffers" if "forward_sync_buffers" in _DDP_PARAMS else "broadcast_buffers"] = False
        self.models = tuple(GANDataParallel(m, **kw) for m in (G, D))
        return self.models

    def __exit__(self, *exc) -> None:
        self.models = None                           # the DDP wrappers (and their gradient hooks) go
        _restore_batchnorm(self._swaps)
        self._swaps = []

    # -- the bookkeeping's collectives
    def mean(self, t: torch.Tensor, flag: bool = False):
        """``(mean of t over ranks, whether any rank had flag)``: one all-reduce (the log flush:
        the global batch's losses, a NaN on any rank seen by all, a stop request agreed)."""
        if not self.active:
            return t, flag
        import torch.distributed as dist

        buf = torch.cat([t.reshape(-1).float(), torch.tensor([float(flag)], device=t.device)])
        dist.all_reduce(buf)                         # sum (gloo has no average)
        return (buf[:-1] / self.world).view(t.shape), bool(buf[-1].item() > 0)
