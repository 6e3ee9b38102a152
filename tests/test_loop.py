"""gan_utils.loop: the loop's guarantees for models that are not "one G, one D" (notebooks 11, 13, 14).

A toy task with two models, a data loader, a random draw per step and a piece of extra state (a
running buffer) stands for a translator or a sequence GAN: each test names the promise it keeps.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from gan_utils.checkpoint import LOCK, CheckpointError, load_checkpoint
from gan_utils.data import InMemoryLoader
from gan_utils.loop import NonFiniteLossError, Task, TrainingInterrupted, run_loop
from gan_utils.runtime import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class ToyConfig:
    steps: int = 6
    lr: float = 0.05          # a setting that changes the run: a resume with another is refused
    log_every: int = 2        # may change on resume
    ckpt_every: int = 0
    sample_every: int = 0


class ToyTask(Task):
    """Two linear maps fitted to each other's outputs on noisy data: (1) A steps, (2) B steps."""

    kind = "toy"

    def __init__(self, cfg: ToyConfig, seed: int = 0, poison_at: int = -1, nan_weight_at: int = -1):
        torch.manual_seed(seed)
        self.config = cfg
        self.A, self.B = nn.Linear(4, 4), nn.Linear(4, 4)
        self.opt_a = torch.optim.Adam(self.A.parameters(), lr=cfg.lr)
        self.opt_b = torch.optim.Adam(self.B.parameters(), lr=cfg.lr)
        data = torch.randn(40, 4, generator=torch.Generator().manual_seed(1))   # the same data in every process
        self.data = InMemoryLoader(data, batch_size=8, seed=0)
        self.memory = torch.zeros(4)                       # extra state: a running mean of A's outputs
        self.poison_at, self.nan_weight_at = poison_at, nan_weight_at
        self.snapshots = []

    def modules(self):
        return {"A": self.A, "B": self.B}

    def optimizers(self):
        return {"A": self.opt_a, "B": self.opt_b}

    def loaders(self):
        return {"data": self.data}

    def extra_state(self):
        return {"memory": self.memory.clone()}

    def load_extra_state(self, state):
        self.memory = state["memory"].clone()

    def snapshot(self, step, out_dir):
        self.snapshots.append(step)

    def step(self, step):
        x = self.data.next_batch() + 0.1 * torch.randn(8, 4)   # a random draw: the RNG must be restored
        loss_a = ((self.A(x) - self.B(x).detach()) ** 2).mean() + ((self.A(x) - 1) ** 2).mean()
        if step == self.poison_at:
            loss_a = loss_a * float("nan")
        self.opt_a.zero_grad()
        loss_a.backward()
        self.opt_a.step()
        loss_b = ((self.B(x) - self.A(x).detach()) ** 2).mean()
        self.opt_b.zero_grad()
        loss_b.backward()
        self.opt_b.step()
        if step == self.nan_weight_at:                     # a NaN weight while the losses are still finite
            with torch.no_grad():
                self.B.weight[0, 0] = float("nan")
        self.memory = 0.9 * self.memory + 0.1 * self.A(x).detach().mean(0)
        return {"loss_A": loss_a.detach(), "loss_B": loss_b.detach(), "memory_norm": self.memory.norm()}


def _state(task):
    return {**{f"{k}.{n}": v.clone() for k, m in task.modules().items() for n, v in m.state_dict().items()},
            "memory": task.memory.clone(), "rng": torch.get_rng_state()}


def test_a_resumed_run_continues_bit_for_bit(tmp_path):
    # guards against: a resume that forgets the optimisers, the loader's position, the RNG or the extra state
    whole = ToyTask(ToyConfig())
    r = run_loop(whole, 6, out_dir=tmp_path / "whole", log_every=2, progress=False)
    a = _state(whole)
    first = ToyTask(ToyConfig())
    run_loop(first, 3, out_dir=tmp_path / "split", log_every=2, progress=False)
    second = ToyTask(ToyConfig(), seed=99)                     # a new process: other initial weights, RNG
    r2 = run_loop(second, 6, out_dir=tmp_path / "split", resume=True, log_every=2, progress=False)
    b = _state(second)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "the resumed run drifted"
    assert r.history["loss_A"] == r2.history["loss_A"] and r2.history["step"] == list(range(1, 7))
    ck = torch.load(tmp_path / "split" / "checkpoint_latest.pt", weights_only=True)   # plain data only
    assert ck["kind"] == "toy" and ck["step"] == 6 and set(ck["modules"]) == {"A", "B"}
    assert (tmp_path / "split" / "history.json").exists() and not (tmp_path / "split" / LOCK).exists()


def test_a_resume_with_other_settings_or_another_kind_is_refused(tmp_path):
    run_loop(ToyTask(ToyConfig()), 2, out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match=r"config.lr: checkpoint 0.05 vs now 0.1"):
        run_loop(ToyTask(ToyConfig(lr=0.1)), 4, out_dir=tmp_path, resume=True, progress=False)
    run_loop(ToyTask(ToyConfig(log_every=1)), 3, out_dir=tmp_path, resume=True, progress=False)   # may change

    class Other(ToyTask):
        kind = "other"

    with pytest.raises(CheckpointError, match="checkpoint of a 'toy' run"):
        run_loop(Other(ToyConfig()), 4, out_dir=tmp_path, resume=True, progress=False)
    with pytest.raises(ConfigError, match="already at step 3, past steps=2"):
        run_loop(ToyTask(ToyConfig()), 2, out_dir=tmp_path, resume=True, progress=False)


def test_a_nan_loss_stops_the_run_and_a_nan_weight_is_never_saved(tmp_path):
    # guards against: training on after a NaN, or a NaN checkpoint replacing the last good one
    with pytest.raises(NonFiniteLossError, match="loss_A became nan at step 4"):
        run_loop(ToyTask(ToyConfig(), poison_at=3), 6, out_dir=tmp_path / "a", log_every=1, ckpt_every=1,
                 progress=False)
    assert load_checkpoint(tmp_path / "a")["step"] == 3
    with pytest.raises(NonFiniteLossError, match="NaN or inf at step 2.*nothing was saved"):
        run_loop(ToyTask(ToyConfig(), nan_weight_at=1), 6, out_dir=tmp_path / "b", log_every=1, ckpt_every=1,
                 progress=False)
    ck = load_checkpoint(tmp_path / "b")
    assert ck["step"] == 1 and all(torch.isfinite(v).all() for m in ck["modules"].values() for v in m.values())


def test_one_writer_per_run_folder(tmp_path):
    # guards against: two runs in one folder overwriting each other's checkpoints
    (tmp_path / LOCK).write_text(f"{os.uname().nodename} {os.getppid()}")   # a live process of this host
    with pytest.raises(CheckpointError, match="being written by another run"):
        run_loop(ToyTask(ToyConfig()), 2, out_dir=tmp_path, progress=False)


def test_snapshots_and_bad_sizes():
    t = ToyTask(ToyConfig())
    run_loop(t, 5, sample_every=2, progress=False)
    assert t.snapshots == [2, 4, 5]
    for kw, needle in (({"log_every": 0}, "log_every=0"), ({"ckpt_every": -1}, "ckpt_every=-1")):
        with pytest.raises(ConfigError, match=needle):
            run_loop(ToyTask(ToyConfig()), 2, progress=False, **kw)
    with pytest.raises(ConfigError, match="steps=2.5"):
        run_loop(ToyTask(ToyConfig()), 2.5, progress=False)


SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_loop import ToyTask, ToyConfig
    from gan_utils.loop import run_loop, TrainingInterrupted

    class Slow(ToyTask):
        def step(self, step):
            time.sleep(0.05)
            return super().step(step)

    try:
        run_loop(Slow(ToyConfig()), 100000, out_dir={out!r}, resume=True, progress=False)
    except TrainingInterrupted as e:
        print("stopped", e.step, flush=True)
        sys.exit(130)
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_stop_signal_saves_a_whole_step_that_resumes_bit_for_bit(tmp_path, sig):
    # guards against: a closed terminal (SIGHUP) or a scheduler (SIGTERM) killing the run without a checkpoint
    out = tmp_path / "run"
    # the same thread count as this process, which computes the uninterrupted run to compare with bit for bit
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(torch.get_num_threads()))
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT.format(tests=str(ROOT / "tests"), out=str(out))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    while not (out / LOCK).exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)                                        # a few steps
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    stopped = int(stdout.split()[-1])
    ck = load_checkpoint(out)
    assert ck["step"] == stopped >= 1 and ck["history"]["step"][-1] == stopped and not (out / LOCK).exists()
    resumed = ToyTask(ToyConfig(), seed=5)
    run_loop(resumed, stopped + 3, out_dir=out, resume=True, progress=False)
    whole = ToyTask(ToyConfig())
    run_loop(whole, stopped + 3, progress=False)
    a, b = _state(whole), _state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
