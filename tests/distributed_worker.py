"""The 2-process side of tests/test_distributed.py: scenarios that run on every rank of a gloo
process group (CPU), each returning what the tests compare. One spawn runs them all (a process
start costs seconds on a 2-core CI machine); the tests read ``rank{r}.pt`` afterwards.

Also the write audit (:data:`AUDIT_SOURCE`): a ``sys.addaudithook`` that records every file this
process creates, opens for writing, renames or removes under a watched folder, installed in the
spawned workers and, through a ``sitecustomize.py``, in the processes torchrun starts.
"""
from __future__ import annotations

import os
import signal
from dataclasses import replace
from pathlib import Path

import torch

#: The write audit, as source so that a generated sitecustomize.py can run it too. Environment:
#: GAN_TEST_AUDIT (folder for the logs), GAN_TEST_WATCH (the folder whose writes count), RANK.
AUDIT_SOURCE = r'''
import atexit as _atexit, os as _os, sys as _sys
def _install_write_audit():
    log_dir, watch, rank = (_os.environ.get(k) for k in ("GAN_TEST_AUDIT", "GAN_TEST_WATCH", "RANK"))
    if not (log_dir and watch and rank is not None):
        return
    watch = _os.path.abspath(watch) + _os.sep
    seen = []

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (_os.O_WRONLY | _os.O_RDWR | _os.O_CREAT))
        elif event in ("os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.truncate"):
            path, writes = args[0], True
        else:
            return
        if writes and isinstance(path, (str, bytes, _os.PathLike)):
            p = _os.path.abspath(_os.fsdecode(path))
            if p.startswith(watch):
                seen.append(f"{event} {p}")

    def dump():
        with open(_os.path.join(log_dir, f"writes_rank{rank}.txt"), "w") as f:
            f.write("\n".join(seen))
    _sys.addaudithook(hook)
    _atexit.register(dump)
_install_write_audit()
'''


def _state(m) -> dict:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def _params(m) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in m.parameters()]).clone()


def _buffers(m) -> torch.Tensor:
    bufs = [b.detach().reshape(-1).double() for b in m.buffers()]
    return torch.cat(bufs).clone() if bufs else torch.zeros(0)


def dcgan(norm="batch", seed=1, width=8):
    from gan_utils.models import DCGANDiscriminator, DCGANGenerator

    torch.manual_seed(seed)
    return DCGANGenerator(100, 3, 32, width), DCGANDiscriminator(3, 32, width, norm=norm)


def images(n=128, seed=0):
    from gan_utils.data import synthetic_images

    return synthetic_images(n, 3, 32, seed=seed)


def mlp_pair(seed=3):
    from gan_utils.models import MLPDiscriminator, MLPGenerator

    torch.manual_seed(seed)
    return (MLPGenerator(16, (1, 8, 8), hidden=32, depth=2, tanh_output=True),
            MLPDiscriminator((1, 8, 8), hidden=32, depth=2))


#: the equivalence run: norm-free MLPs (BatchNorm would normalise 16 samples per rank, not 32)
EQUIV = dict(loss="bce-ns", steps=4, batch_size=32, latent_dim=16, ema_decay=0.9, log_every=1, sample_every=0,
             fast=False, seed=0)


def equivalence_run(world_batch_cfg=None):
    """The MLP run of the equivalence check (in one process when called by the test itself)."""
    from gan_utils.data import InMemoryLoader, synthetic_images
    from gan_utils.train import TrainConfig, train

    cfg = TrainConfig(**EQUIV)
    G, D = mlp_pair()
    loader = InMemoryLoader(synthetic_images(256, 1, 8, seed=2), cfg.batch_size, seed=cfg.seed)
    torch.manual_seed(11)                       # the training RNG (z), the same on every rank
    r = train(G, D, loader, cfg, progress=False)
    return {"G": _state(G), "D": _state(D), "G_ema": _state(r.G_ema), "history": r.history}


def gp_grads(D, rank, wrap):
    """The WGAN-GP critic loss of rank ``rank``'s batch, as d_step builds it, backpropagated: D's grads."""
    from gan_utils.distributed import GANDataParallel
    from gan_utils.losses import critic_loss_wasserstein, gradient_penalty

    g = torch.Generator().manual_seed(10 + rank)
    real, fake = (torch.rand(4, 3, 32, 32, generator=g) * 2 - 1 for _ in range(2))
    m = GANDataParallel(D) if wrap else D
    torch.manual_seed(100 + rank)               # the penalty's interpolation weights
    loss = critic_loss_wasserstein(m(real), m(fake)) + 10.0 * gradient_penalty(m, real, fake)
    D.zero_grad(set_to_none=True)
    loss.backward()
    return [p.grad.detach().clone() for p in D.parameters()]


# ---------------------------------------------------------------- scenarios (every rank runs each)
def scenario_steps(rank, tmp, loss):
    """A few steps of train() with a record after every optimiser step: params (and buffers) of G
    and D, D's grads around the G step, and how often DDP's own forward ran on a frozen D."""
    from torch.nn.parallel import DistributedDataParallel

    from gan_utils.data import InMemoryLoader
    from gan_utils.train import TrainConfig, make_optimizers, train

    if loss == "bce-ns":
        G, D = dcgan("batch", seed=1 + rank)     # different seeds on purpose: train() must start the ranks alike
        cfg = TrainConfig.preset("bce-ns", steps=3, batch_size=16, ema_decay=0.9, log_every=1, sample_every=0, seed=0)
    else:
        G, D = dcgan("layer")
        cfg = TrainConfig.preset("wgan-gp", steps=2, batch_size=16, ema_decay=0.9, log_every=1, sample_every=0, seed=0)
    loader = InMemoryLoader(images(), cfg.batch_size, seed=cfg.seed)
    opt_g, opt_d = make_optimizers(G, D, cfg)
    log, last = [], {}

    def after_d(opt, args, kwargs):
        last["D_params"], last["D_grads"] = _params(D), [p.grad.clone() for p in D.parameters()]
        log.append({"who": "D", "D": _params(D), "D_buffers": _buffers(D)})

    def after_g(opt, args, kwargs):
        log.append({"who": "G", "G": _params(G), "G_buffers": _buffers(G), "D_buffers": _buffers(D),
                    "D_params_unchanged": torch.equal(_params(D), last["D_params"]),
                    "D_grads_unchanged": all(torch.equal(p.grad, g) for p, g in zip(D.parameters(), last["D_grads"]))})

    opt_d.register_step_post_hook(after_d)
    opt_g.register_step_post_hook(after_g)
    calls = {"frozen": 0, "all": 0}
    original = DistributedDataParallel.forward

    def counting_forward(self, *a, **k):        # DDP's own forward, with D frozen or not
        calls["all"] += 1
        calls["frozen"] += not any(p.requires_grad for p in self.module.parameters())
        return original(self, *a, **k)

    DistributedDataParallel.forward = counting_forward
    try:
        r = train(G, D, loader, cfg, optimizers=(opt_g, opt_d), progress=False)
    finally:
        DistributedDataParallel.forward = original
    return {"log": log, "ddp_forward_calls": calls, "G_ema": _state(r.G_ema), "history": r.history}


def scenario_equivalence(rank, tmp):
    return equivalence_run()


def scenario_noise(rank, tmp):
    from gan_utils.distributed import Parallel

    torch.manual_seed(5)
    return Parallel("cpu").noise(7)(torch.zeros(3, 1))   # this rank's z for a batch of 3


def scenario_gp(rank, tmp):
    """D's gradients under DDP, and the reference (each rank's batch unwrapped, averaged) computed in
    this same process, with the same thread count and CPU kernels: the two sides differ only by the
    reduction DDP adds, never by another summation order of the convolutions."""
    _, D = dcgan("layer", seed=4)
    got = gp_grads(D, rank, wrap=True)
    per_rank = []
    for r in range(2):
        _, D = dcgan("layer", seed=4)
        per_rank.append(gp_grads(D, r, wrap=False))
    return {"ddp": got, "reference": [(a + b) / 2 for a, b in zip(*per_rank)]}


def scenario_compiled_r1(rank, tmp):
    """bce-ns + R1 with D compiled by the fast path (the aot_eager backend: AOTAutograd, which refuses a
    double backward, without inductor's code generation) under DDP: R1 must take the eager D."""
    from gan_utils.data import InMemoryLoader
    from gan_utils.train import TrainConfig, train

    G, D = dcgan("none")
    cfg = TrainConfig.preset("bce-ns", steps=2, batch_size=16, r1_gamma=1.0, log_every=1, sample_every=0, seed=0,
                             compile="aot_eager")
    r = train(G, D, InMemoryLoader(images(), cfg.batch_size, seed=cfg.seed), cfg, progress=False)
    return {"compiled": r.fast.get("compiled"), "D": _state(D), "history": r.history}


def scenario_resume(rank, tmp):
    """4 steps in one go vs 2 steps, then a resume to 4 (fresh models, as a new process has)."""
    from gan_utils.data import InMemoryLoader
    from gan_utils.train import TrainConfig, train

    cfg = TrainConfig.preset("bce-ns", steps=4, batch_size=16, ema_decay=0.9, log_every=2, sample_every=2,
                             ckpt_every=2, seed=0)
    out = {}
    for name, plan in (("uninterrupted", [(4, False)]), ("resumed", [(2, False), (4, True)])):
        for steps, resume in plan:
            G, D = dcgan("batch")
            torch.manual_seed(7)
            loader = InMemoryLoader(images(), cfg.batch_size, seed=cfg.seed)
            r = train(G, D, loader, replace(cfg, steps=steps), out_dir=Path(tmp) / "runs" / name, resume=resume,
                      progress=False)
        out[name] = {"G": _state(G), "D": _state(D), "G_ema": _state(r.G_ema), "history": r.history}
    return out


def scenario_experiment(rank, tmp):
    from gan_utils.experiment import run_experiment

    config = {"model": "dcgan", "loss": "wgan-gp", "dataset": "synthetic", "image_size": 32, "width": 8,
              "batch_size": 16, "steps": 4, "eval_every": 2, "n_eval": 64, "n_ref": 128, "log_every": 2,
              "sample_every": 0, "ckpt_every": 0, "features": "pixels", "seed": 3, "device": "cpu"}
    r = run_experiment(config, Path(tmp) / "runs" / "experiment", progress=False, verbose=False)
    return {"evals": r.evals, "G_ema": _state(r.G_ema)}


def scenario_stop(rank, tmp):
    """SIGTERM on rank 1 only, during step 1: every rank must stop after the same step."""
    from gan_utils.data import InMemoryLoader
    from gan_utils.train import TrainConfig, TrainingInterrupted, make_optimizers, train

    G, D = dcgan("batch")
    cfg = TrainConfig.preset("bce-ns", steps=50, batch_size=16, log_every=3, sample_every=0, seed=0)
    opt_g, opt_d = make_optimizers(G, D, cfg)
    if rank == 1:
        sent = []

        def terminate_once(opt, args, kwargs):
            if not sent:
                sent.append(1)
                signal.raise_signal(signal.SIGTERM)
        opt_g.register_step_post_hook(terminate_once)
    try:
        train(G, D, InMemoryLoader(images(), cfg.batch_size), cfg, optimizers=(opt_g, opt_d),
              out_dir=Path(tmp) / "runs" / "stop", progress=False)
    except TrainingInterrupted as e:
        return {"step": e.step, "checkpoint": str(e.checkpoint) if e.checkpoint else None}
    return {"step": None}


def scenario_sync_batchnorm_on_cpu(rank, tmp):
    from gan_utils.data import InMemoryLoader
    from gan_utils.runtime import ConfigError
    from gan_utils.train import TrainConfig, train

    G, D = dcgan("batch")
    cfg = TrainConfig(steps=1, batch_size=16, sync_batchnorm=True)
    try:
        train(G, D, InMemoryLoader(images(), 16), cfg, progress=False)
    except ConfigError as e:
        return str(e)
    return None


SCENARIOS = {
    "dcgan": lambda rank, tmp: scenario_steps(rank, tmp, "bce-ns"),
    "wgan_gp": lambda rank, tmp: scenario_steps(rank, tmp, "wgan-gp"),
    "equivalence": scenario_equivalence,
    "noise": scenario_noise,
    "gp": scenario_gp,
    "compiled_r1": scenario_compiled_r1,
    "resume": scenario_resume,
    "experiment": scenario_experiment,
    "stop": scenario_stop,
    "sync_batchnorm_on_cpu": scenario_sync_batchnorm_on_cpu,
}


def worker(rank: int, world: int, tmp: str) -> None:
    """torch.multiprocessing.spawn's target: join a gloo group through a file, run every scenario."""
    import torch.distributed as dist

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), GAN_TEST_AUDIT=tmp,
                      GAN_TEST_WATCH=str(Path(tmp) / "runs"))
    exec(AUDIT_SOURCE, {})                                  # records this rank's writes under tmp/runs
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=rank, world_size=world)
    results = {}
    for name, run in SCENARIOS.items():
        results[name] = run(rank, tmp)
        dist.barrier()
    torch.save(results, Path(tmp) / f"rank{rank}.pt")
    dist.destroy_process_group()
