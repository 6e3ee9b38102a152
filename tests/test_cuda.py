"""The CUDA subset: the fast path on a real GPU trains the same model as fp32 eager (run by
scripts/gpu_check.py on a GPU machine; skipped, with the reason, everywhere else).

Stated tolerances, for the same seed over 20 steps of a width-32 DCGAN / WGAN-GP at batch 64:
every logged loss within LOSS_TOL of fp32 eager (relative for WGAN-GP, whose critic loss starts
near lambda * GP ~ 10), and the fixed-noise samples' mean and std within SAMPLE_TOL.
"""
import numpy as np
import pytest
import torch

from gan_utils import fast as F
from gan_utils import seed_everything
from gan_utils.checkpoint import load_checkpoint
from gan_utils.data import InMemoryLoader, synthetic_images
from gan_utils.models import DCGANDiscriminator, DCGANGenerator
from gan_utils.train import TrainConfig, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (scripts/gpu_check.py)")

LOSS_TOL = {"bfloat16": 0.05, "float16": 0.03, None: 0.01}
SAMPLE_TOL = 0.02


def _run(loss="bce-ns", steps=20, plan=None, out_dir=None, resume=False, **kw):
    seed_everything(0)
    G = DCGANGenerator(64, 3, 32, 32)
    D = DCGANDiscriminator(3, 32, 32, norm="layer" if loss == "wgan-gp" else "batch")
    loader = InMemoryLoader(synthetic_images(1024, 3, 32, seed=1), 64, seed=3)
    cfg = TrainConfig.preset(loss, latent_dim=64, steps=steps, batch_size=64, log_every=5, **kw)
    with pytest.MonkeyPatch.context() as mp:
        if plan is not None:
            mp.setattr(F, "resolve_plan", lambda *a, **k: plan)
        return train(G, D, loader, cfg, device="cuda", progress=False, out_dir=out_dir, resume=resume)


def _close(plain, fast, tol, rel):
    for key in ("loss_D", "loss_G"):
        a, b = np.array(plain.history[key]), np.array(fast.history[key])
        bound = tol * (1 + np.abs(a)) if rel else tol
        assert np.all(np.abs(a - b) <= bound), f"{key}: differs by up to {np.abs(a - b).max():.3g}"
    sa, sb = plain.samples[-1][1], fast.samples[-1][1]
    assert abs(sa.mean() - sb.mean()) <= SAMPLE_TOL and abs(sa.std() - sb.std()) <= SAMPLE_TOL


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("loss", ["bce-ns", "wgan-gp"])
def test_autocast_trains_the_same_model_as_fp32(loss, dtype):
    if dtype == "bfloat16" and not F.native_bf16(torch.device("cuda")):
        pytest.skip("this GPU has no native bf16")
    plan = F.FastPlan(channels_last=True, autocast_dtype=dtype, grad_scaler=dtype == "float16",
                      device_data=True, cudnn_benchmark=True)
    plain = _run(loss, fast=False, steps=10 if loss == "wgan-gp" else 20)
    fast = _run(loss, plan=plan, steps=10 if loss == "wgan-gp" else 20)
    _close(plain, fast, LOSS_TOL[dtype], rel=loss == "wgan-gp")


def test_compile_trains_the_same_model_and_is_checked_against_eager():
    if not F.native_bf16(torch.device("cuda")):
        pytest.skip("compile is only used on GPUs with native bf16")
    plan = F.FastPlan(channels_last=True, autocast_dtype="bfloat16", compile=True, device_data=True,
                      cudnn_benchmark=True)
    plain, fast = _run(fast=False), _run(plan=plan)
    assert fast.fast.get("compiled") is True, fast.fast
    assert fast.fast["compile_max_rel_diff"] <= F.COMPILE_TOLERANCE["bfloat16"]
    _close(plain, fast, LOSS_TOL["bfloat16"], rel=False)


def test_the_auto_plan_on_this_gpu():
    G, D = DCGANGenerator(64, 3, 32, 32), DCGANDiscriminator(3, 32, 32)
    p = F.resolve_plan(TrainConfig(), torch.device("cuda"), G, D)
    assert p.channels_last and p.device_data and p.cudnn_benchmark
    assert p.autocast_dtype == ("bfloat16" if F.native_bf16(torch.device("cuda")) else "float16")


def test_the_loader_moves_to_the_gpu_and_the_callers_loader_continues():
    loader = InMemoryLoader(synthetic_images(256, 3, 32), 64, seed=3)
    moved = F.move_loader(loader, torch.device("cuda"))
    assert moved is not None and moved.images.is_cuda and not loader.images.is_cuda


@pytest.mark.parametrize("first,then", [(None, False), (False, None)])
def test_resume_under_another_plan_on_the_gpu(tmp_path, first, then):
    """Guards against channels_last Adam moments in a checkpoint: fused Adam raised "params, grads,
    exp_avgs, and exp_avg_sqs must have same dtype, device, and layout" on resume with another plan."""
    _run(steps=6, fast=first, out_dir=tmp_path)
    ck = load_checkpoint(tmp_path)
    assert all(v.is_contiguous() for st in ck["opt_D"]["state"].values() for v in st.values() if torch.is_tensor(v))
    r = _run(steps=12, fast=then, out_dir=tmp_path, resume=True)
    assert r.history["step"][-1] == 12 and np.all(np.isfinite(r.history["loss_D"]))


def test_fp16_overflows_in_the_gradient_penalty_are_skipped_steps_not_a_divergence(monkeypatch):
    # guards against: the T4 path stopping a WGAN-GP run with NonFiniteLossError once the scaler has grown
    # to the scale at which the penalty's inner fp16 gradient overflows (GradScaler skips; the guard counts)
    monkeypatch.setattr(F, "GRAD_SCALER_INIT", 2.0 ** 24)          # far past fp16's range for the inner gradient
    plan = F.FastPlan(channels_last=True, autocast_dtype="float16", grad_scaler=True, device_data=True,
                      cudnn_benchmark=True)
    r = _run("wgan-gp", plan=plan, steps=10)
    skipped = np.array(r.history["skipped_D"])
    assert skipped.sum() >= 1 and r.history["step"][-1] == 10
    assert np.all(skipped[~np.isfinite(r.history["loss_D"])] > 0)
