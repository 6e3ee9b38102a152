"""torchrun / DistributedDataParallel (gan_utils.distributed), on the CPU with gloo and 2 processes.

The 2-rank checks of train() run in one spawn of tests/distributed_worker.py (a module-scoped
fixture); the CLI runs under torchrun itself. Each test names the bug it guards against.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import distributed_worker as W
from gan_utils.checkpoint import LATEST, bare_module, load_checkpoint, load_model_state, training_state
from gan_utils.data import InMemoryLoader, synthetic_images
from gan_utils.runtime import ConfigError

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without torch.distributed")


# ---------------------------------------------------------------- in one process
def test_shards_of_an_epoch_are_disjoint_and_cover_the_data():
    # guards against: every rank reading the same batches (an N-times smaller effective dataset)
    data = torch.arange(64, dtype=torch.float32).view(64, 1, 1, 1)   # item i holds the value i
    single = InMemoryLoader(data, 16, seed=3)
    ranks = [InMemoryLoader(data, 16, seed=3).shard(r, 2) for r in range(2)]
    seen = []
    for _ in range(len(single)):                        # one epoch: 4 global batches
        whole = single.next_batch().flatten()
        parts = [loader.next_batch().flatten() for loader in ranks]
        assert all(len(p) == 8 for p in parts)
        assert torch.equal(torch.cat(parts), whole), "the shards of a batch must be the one-process batch"
        seen += torch.cat(parts).long().tolist()
    assert sorted(seen) == list(range(64)), "an epoch's shards must be disjoint and cover the dataset"
    assert ranks[0].state_dict() == ranks[1].state_dict() == single.state_dict()   # any rank's state resumes all


def test_a_global_batch_that_does_not_split_evenly_is_refused():
    with pytest.raises(ConfigError, match="multiple of 3"):
        InMemoryLoader(synthetic_images(64, 1, 8), 16).shard(0, 3)


def test_sync_batchnorm_swap_shares_the_parameters_and_is_undone():
    # guards against: SyncBatchNorm layers left in the caller's model (or copies of its weights)
    from gan_utils.distributed import _restore_batchnorm, _swap_batchnorm

    G, D = W.dcgan("batch")
    bns = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    n_d = sum(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())
    params = [id(p) for p in G.parameters()]
    swaps = _swap_batchnorm((G, D))
    assert len(swaps) == len(bns) + n_d and n_d > 0
    assert not any(type(m) is torch.nn.BatchNorm2d for m in G.modules())
    assert [id(p) for p in G.parameters()] == params
    _restore_batchnorm(swaps)
    assert [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)] == bns
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in (*G.modules(), *D.modules()))


def test_wrapped_models_are_saved_without_prefixes_and_prefixed_checkpoints_load():
    # guards against: "module." keys from a DDP-wrapped model that a single process cannot load
    from gan_utils.fast import PLAIN, FastModule
    from gan_utils.train import TrainConfig

    G, D = W.dcgan("batch")
    wrapped = FastModule(G, PLAIN, "cpu")                          # its state_dict keys start with "module."
    assert all(k.startswith("module.") for k in wrapped.state_dict())
    state = training_state(step=1, cfg=TrainConfig(), G=wrapped, D=D, ema=None,
                           opt_g=torch.optim.Adam(G.parameters()), opt_d=torch.optim.Adam(D.parameters()),
                           fixed_noise=torch.zeros(1, 100), history={})
    assert state["G"].keys() == G.state_dict().keys() and state["model_config"]["G"] == G.config
    other, _ = W.dcgan("batch", seed=9)
    load_model_state(other, {f"module.{k}": v for k, v in G.state_dict().items()})   # another program's DDP save
    assert all(torch.equal(a, b) for a, b in zip(other.state_dict().values(), G.state_dict().values()))
    assert bare_module(wrapped) is G


# ---------------------------------------------------------------- 2 ranks, one spawn
@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Every scenario of tests/distributed_worker.py on 2 gloo ranks: ``(results of rank 0, of rank 1, tmp)``."""
    import torch.multiprocessing as mp

    tmp = tmp_path_factory.mktemp("ddp")
    t0 = time.perf_counter()
    mp.spawn(W.worker, args=(2, str(tmp)), nprocs=2, join=True)
    print(f"2-rank scenarios: {time.perf_counter() - t0:.1f} s")
    return torch.load(tmp / "rank0.pt", weights_only=False), torch.load(tmp / "rank1.pt", weights_only=False), tmp


@pytest.mark.parametrize("run", ["dcgan", "wgan_gp"])
def test_two_ranks_keep_identical_weights_after_every_step(ranks, run):
    # guards against: unsynchronised gradients or buffers (BatchNorm statistics), ranks drifting apart,
    # and EMA generators that start apart (the dcgan ranks build their models from different seeds)
    r0, r1 = ranks[0][run], ranks[1][run]
    steps = {"dcgan": 3, "wgan_gp": 2}[run]
    n_critic = {"dcgan": 1, "wgan_gp": 5}[run]
    assert [e["who"] for e in r0["log"]] == (["D"] * n_critic + ["G"]) * steps      # the run completed
    for a, b in zip(r0["log"], r1["log"]):
        for key in a:
            if torch.is_tensor(a[key]):
                assert torch.equal(a[key], b[key]), f"{run}: {key} differs between the ranks after a {a['who']} step"
    assert all(torch.equal(a, b) for a, b in zip(r0["G_ema"].values(), r1["G_ema"].values())), "EMA generators differ"
    assert r0["history"]["loss_D"] == r1["history"]["loss_D"], "the logged losses must be the global batch's"


@pytest.mark.parametrize("run", ["dcgan", "wgan_gp"])
def test_g_step_leaves_d_and_its_ddp_reducer_alone(ranks, run):
    # guards against: the G step accumulating gradients into D (.grad / DDP buckets), or running D's
    # reducer for a backward that never comes (D is frozen there: the wrapper must bypass DDP)
    for r in ranks[:2]:
        g_steps = [e for e in r[run]["log"] if e["who"] == "G"]
        assert all(e["D_grads_unchanged"] and e["D_params_unchanged"] for e in g_steps)
        calls = r[run]["ddp_forward_calls"]
        assert calls["all"] > 0 and calls["frozen"] == 0, calls


def test_two_ranks_of_batch_b_train_like_one_process_of_batch_2b(ranks):
    # guards against: a wrong loss scale or learning-rate coupling (summed instead of averaged
    # gradients), overlapping shards, the same noise on every rank. Norm-free MLPs: BatchNorm would
    # normalise 16 samples per rank instead of 32. Tolerance: float32 round-off of the reduction
    # order (one gradient over 32 samples vs the mean of two over 16): 1.5e-8 measured after these 4
    # Adam steps; 1e-5 leaves room and is still 20 times smaller than one Adam step (lr 2e-4).
    ddp = ranks[0]["equivalence"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                 # as in the ranks (distributed_worker.worker)
    try:
        one = W.equivalence_run()
    finally:
        torch.set_num_threads(threads)
    for key in ("G", "D", "G_ema"):
        for name, t in one[key].items():
            diff = float((ddp[key][name] - t).abs().max())
            assert diff < 1e-5, f"{key}.{name} differs by {diff:.2e}"
    for name in ("loss_D", "loss_G", "D_x"):
        assert ddp["history"][name] == pytest.approx(one["history"][name], rel=1e-5, abs=1e-6), name


def test_every_rank_draws_different_noise_that_together_is_the_global_batch(ranks):
    # guards against: the same z on every rank (a global batch of N copies of B fakes)
    z0, z1 = ranks[0]["noise"], ranks[1]["noise"]
    torch.manual_seed(5)
    assert torch.equal(torch.cat([z0, z1]), torch.randn(6, 7))
    assert not torch.equal(z0, z1)


def float32_tolerance(t: torch.Tensor, n_terms: int) -> float:
    """An absolute tolerance for two float32 results that differ only in the order of a reduction of
    ``n_terms`` terms: each partial sum is rounded once (relative error eps = 2**-24 per addition), so
    the results can differ by up to ~n eps times the largest term; sqrt(n) is the usual size and
    8 sqrt(n) eps |t|_max bounds it on any CPU (other SIMD widths and thread counts)."""
    return 8 * (n_terms ** 0.5) * torch.finfo(torch.float32).eps * float(t.abs().max())


def test_gradient_penalty_double_backward_under_ddp_averages_the_per_rank_gradients(ranks):
    # guards against: the penalty's gradients left unreduced or reduced twice (autograd.grad with
    # create_graph=True under DDP: pytorch/pytorch#63812, #47562). The reference is computed in the
    # ranks' own processes (same thread count): computed here instead, with this process's threads,
    # the convolutions summed in another order and a fixed 1e-6 failed on another CPU (1.16e-6).
    got, ref = ranks[0]["gp"]["ddp"], ranks[0]["gp"]["reference"]
    assert all(torch.equal(a, b) for a, b in zip(got, ranks[1]["gp"]["ddp"]))
    assert all(torch.equal(a, b) for a, b in zip(ref, ranks[1]["gp"]["reference"]))
    for g, r in zip(got, ref):
        # no sum in D's backward is longer than the two ranks' pixels (2 x 4 images of 32 x 32); a wrong
        # average (x2, x0.5, one rank's gradient only) is off by ~|g|, far beyond this
        tol = float32_tolerance(r, n_terms=2 * 4 * 32 * 32)
        assert float((g - r).abs().max()) <= tol, (float((g - r).abs().max()), tol)


def test_r1_on_a_compiled_d_under_ddp_takes_the_eager_d(ranks):
    # guards against: d_step unwrapping the compiled D with getattr(D, "compiled"), False on the DDP wrapper,
    # so R1's double backward went through AOTAutograd ("double backward not supported") under torchrun
    r0, r1 = ranks[0]["compiled_r1"], ranks[1]["compiled_r1"]
    assert r0["compiled"] is True, "the fast path did not compile D: the scenario tests nothing"
    assert r0["history"]["step"] == [1, 2] and all(v > 0 for v in r0["history"]["r1_term"])
    assert all(torch.equal(r0["D"][k], r1["D"][k]) for k in r0["D"]), "the ranks' D differ after R1 steps"


def test_a_resumed_two_rank_run_continues_bit_for_bit(ranks):
    # guards against: ranks resuming from different states (or a loader, RNG or EMA not restored)
    for r in ranks[:2]:
        a, b = r["resume"]["uninterrupted"], r["resume"]["resumed"]
        for key in ("G", "D", "G_ema"):
            assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
        assert a["history"]["loss_G"] == b["history"]["loss_G"] and b["history"]["step"] == [1, 2, 3, 4]
    assert all(torch.equal(ranks[0]["resume"]["resumed"]["G"][k], ranks[1]["resume"]["resumed"]["G"][k])
               for k in ranks[0]["resume"]["resumed"]["G"])


def test_only_rank_0_writes(ranks):
    # guards against: two processes writing one checkpoint, or rank 1 refused by rank 0's run lock
    tmp = ranks[2]
    written = (tmp / "writes_rank0.txt").read_text().splitlines()
    assert (tmp / "writes_rank1.txt").read_text() == "", "rank 1 wrote in the run folders"
    for needed in ("uninterrupted/checkpoint_latest.pt", "experiment/eval.json", "experiment/best.pt",
                   "uninterrupted/samples_000004.png", "uninterrupted/.run.lock"):
        assert any(needed in line for line in written), needed
    evals = [r["experiment"]["evals"] for r in ranks[:2]]
    assert evals[0] == evals[1] and [e["step"] for e in evals[0]] == [2, 4]


def test_a_stop_request_on_one_rank_stops_every_rank_after_the_same_step(ranks):
    # guards against: one rank stopping (and saving) while the other waits forever in an all-reduce
    s0, s1 = ranks[0]["stop"], ranks[1]["stop"]
    assert s0["step"] == s1["step"] == 3, (s0, s1)              # SIGTERM at step 1; ranks agree at the flush
    assert load_checkpoint(s0["checkpoint"])["step"] == 3


def test_sync_batchnorm_on_the_cpu_is_a_clear_error(ranks):
    for r in ranks[:2]:
        assert r["sync_batchnorm_on_cpu"] and "CUDA" in r["sync_batchnorm_on_cpu"]


# ---------------------------------------------------------------- the CLI under torchrun
def _env(tmp, watch=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "GAN_COURSE_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(tmp / "site"), str(REPO), os.environ.get("PYTHONPATH", "")])}
    if watch is not None:                                 # the write audit, in every process torchrun starts
        (tmp / "site").mkdir(exist_ok=True)
        (tmp / "site" / "sitecustomize.py").write_text(W.AUDIT_SOURCE)
        env.update(GAN_TEST_AUDIT=str(tmp), GAN_TEST_WATCH=str(watch))
    return env


def _torchrun(args, env, **kw):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "gan_utils",
           *map(str, args)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            **kw)


def _kill_job(proc) -> None:
    """SIGKILL torchrun and the workers it started (each runs in a session of its own, so killing
    torchrun's process group would leave them running, parented to init)."""
    def parent(pid_dir):
        try:
            return int((pid_dir / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
    workers = [int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit() and parent(d) == proc.pid]
    for pid in (*workers, proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.communicate()


def _finish(proc, timeout=300):
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            _kill_job(proc)
    assert proc.returncode == 0, out[-3000:]
    return out


TINY = {"model": "dcgan", "loss": "wgan-gp", "dataset": "synthetic", "image_size": 32, "width": 8, "batch_size": 16,
        "seed": 1, "device": "cpu", "log_every": 2, "sample_every": 0, "ckpt_every": 2, "eval_every": 1000,
        "n_eval": 64, "n_ref": 128, "features": "pixels"}


@pytest.mark.slow   # > 20 s on 2 cores: run by `make test`, not by the floor test
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds torchrun's workers through Linux's /proc")
def test_torchrun_continues_a_one_process_run_survives_a_kill_and_hands_back_to_one_process(tmp_path):
    # guards against: a one-process run that torchrun cannot continue; a killed torchrun job that
    # cannot be resumed (a stale lock, a half-written checkpoint, ranks resuming from different
    # states); rank 1 writing or reporting; DDP checkpoints that one process cannot load ("module.")
    from gan_utils.checkpoint import load_generator
    from gan_utils.config import build_run, resolve
    from gan_utils.experiment import run_experiment
    from gan_utils.train import train

    config, out = tmp_path / "wgan.json", tmp_path / "runs" / "wgan_gp"
    config.write_text(json.dumps(TINY))
    run_experiment(config, out, overrides={"steps": 2}, progress=False, verbose=False)     # one process: 2 steps
    assert load_checkpoint(out / LATEST)["step"] == 2

    # `train` under torchrun continues it, and is killed (every process, SIGKILL) after a checkpoint
    proc = _torchrun(["train", "--config", config, "--steps", 100000, "--out", out, "--resume"], _env(tmp_path))
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline and not (
                (out / LATEST).exists() and load_checkpoint(out / LATEST)["step"] > 2):
            time.sleep(0.05)
    finally:
        _kill_job(proc)
    killed_at = load_checkpoint(out / LATEST)["step"]
    assert killed_at > 2, "torchrun wrote no checkpoint before the kill"
    assert (out / ".run.lock").exists(), "the killed rank 0 leaves its lock behind"

    # `run` under torchrun resumes the killed job and evaluates; rank 0 alone writes and reports
    target = killed_at + 2
    log = _finish(_torchrun(["run", "--config", config, "--steps", target, "--out", out],
                            _env(tmp_path, watch=tmp_path / "runs")))
    assert f"resuming at step {killed_at}" in log and log.count("done:") == 1, log[-2000:]
    assert [e["step"] for e in json.loads((out / "eval.json").read_text())["evals"]] == [2, target]
    assert json.loads((out / "history.json").read_text())["step"] == list(range(1, target + 1))
    assert (tmp_path / "writes_rank1.txt").read_text() == "", "rank 1 wrote in the run folder"
    assert any(LATEST in line for line in (tmp_path / "writes_rank0.txt").read_text().splitlines())
    assert not (out / ".run.lock").exists()

    # and one process continues the torchrun checkpoint
    ck = load_checkpoint(out / LATEST)
    assert ck["step"] == target and not any(k.startswith("module.") for k in (*ck["G"], *ck["D"], *ck["G_ema"]))
    load_generator(out / LATEST)
    G, D, loader, cfg = build_run(resolve(config, steps=target + 2))
    r = train(G, D, loader, cfg, out_dir=out, resume=True, progress=False)
    assert r.history["step"] == list(range(1, target + 3))
