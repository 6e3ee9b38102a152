"""The fast path of train() (gan_utils.fast): each test names the bug it guards against.

The CUDA items (bf16 autocast, torch.compile) are checked here on the CPU by forcing them into the
plan: CPU autocast runs the same casts, and the ``aot_eager`` backend runs the same dynamo +
AOTAutograd graphs as inductor, without generating code.
"""
import warnings

import numpy as np
import pytest
import torch

from gan_utils import fast as F
from gan_utils import seed_everything
from gan_utils.checkpoint import load_checkpoint
from gan_utils.data import InMemoryLoader, synthetic_images
from gan_utils.models import DCGANDiscriminator, DCGANGenerator
from gan_utils.train import TrainConfig, make_optimizers, train

# The stated tolerance of "the fast path trains the same model", for the same seed and 20 steps.
# Measured on this CPU: channels_last alone moves the losses by <= 5e-3 and the sample mean/std by
# <= 6e-5 (fp32 round-off, which Adam's first steps, ~lr * sign(grad), amplify); bf16 autocast by
# <= 5e-3 / 2e-4 for DCGAN. For WGAN-GP, whose critic loss starts near 14 (lambda * GP), bf16 moved
# the first loss by 0.09 and later ones by <= 0.02; hence a relative tolerance there.
LOSS_TOL = 0.03          # |loss_fast - loss_plain| at every step (losses are ~0.5-1.5)
SAMPLE_TOL = 5e-3        # |mean| and |std| of the 64 fixed-noise samples in [-1, 1]


@pytest.fixture(autouse=True)
def _one_thread():
    # One thread: the comparisons do not depend on the thread count, and CPU bf16 kernels were
    # 100x slower with 2 threads than with 1 on the shared 2-core test machine.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _run(plan=None, loss="bce-ns", steps=20, width=16, **cfg_kw):
    """Train a small DCGAN with ``plan`` forced (None: the auto plan of ``cfg.fast``)."""
    seed_everything(0)
    G = DCGANGenerator(16, 1, 32, width)
    D = DCGANDiscriminator(1, 32, width, norm="layer" if loss == "wgan-gp" else "batch")
    loader = InMemoryLoader(synthetic_images(256, 1, 32, seed=1), 32, seed=3)
    cfg = TrainConfig.preset(loss, latent_dim=16, steps=steps, batch_size=32, log_every=5, n_samples=64, **cfg_kw)
    with pytest.MonkeyPatch.context() as mp:
        if plan is not None:
            mp.setattr(F, "resolve_plan", lambda *a, **k: plan)
        return train(G, D, loader, cfg, progress=False)


def _max_diff(a, b, key):
    return float(np.max(np.abs(np.array(a.history[key]) - np.array(b.history[key]))))


def _assert_same_model(plain, fast, loss_tol=LOSS_TOL, rel=False):
    for key in ("loss_D", "loss_G", "D_x", "D_G_z"):
        d = np.abs(np.array(plain.history[key]) - np.array(fast.history[key]))
        tol = loss_tol * (1 + np.abs(np.array(plain.history[key]))) if rel else loss_tol
        assert np.all(d <= tol), f"{key}: fast and plain differ by up to {d.max():.3g} (tolerance {loss_tol})"
    sp, sf = plain.samples[-1][1], fast.samples[-1][1]
    assert abs(sp.mean() - sf.mean()) <= SAMPLE_TOL and abs(sp.std() - sf.std()) <= SAMPLE_TOL
    assert sf.dtype == torch.float32 and sf.is_contiguous()


CUDA_LIKE = F.FastPlan(channels_last=True, autocast_dtype="bfloat16", compile="aot_eager")


def test_cpu_auto_fast_path_trains_the_same_model():
    """Auto on the CPU = channels_last for nets of >= 16 channels; same losses and samples as plain."""
    plain, fast = _run(fast=False), _run()
    assert fast.fast["channels_last"] and plain.fast == F.PLAIN.as_dict()
    _assert_same_model(plain, fast)
    # a layout change: the first step differs by fp32 round-off only
    assert abs(plain.history["loss_D"][0] - fast.history["loss_D"][0]) < 1e-5


def test_cuda_items_bf16_and_compile_train_the_same_model():
    """bf16 autocast + torch.compile (forced on the CPU): losses stay fp32 and agree with plain."""
    plain = _run(fast=False)
    fast = _run(CUDA_LIKE)
    assert fast.fast["compiled"] is True
    for k in ("loss_D", "loss_G"):
        assert all(isinstance(v, float) and np.isfinite(v) for v in fast.history[k])
    _assert_same_model(plain, fast)


def test_wgan_gp_with_bf16_is_never_compiled_and_agrees():
    """The penalty's double backward stays eager (AOTAutograd refuses it; compile had silent bugs)."""
    assert F.compile_models(None, None, None, TrainConfig.preset("wgan-gp"), CUDA_LIKE, torch.device("cpu"))[0]
    plain = _run(fast=False, loss="wgan-gp", steps=6)
    fast = _run(F.FastPlan(channels_last=True, autocast_dtype="bfloat16"), loss="wgan-gp",
                steps=6)
    _assert_same_model(plain, fast, loss_tol=0.02, rel=True)


@pytest.fixture
def gpu(monkeypatch):
    """Pretend to be on a CUDA GPU of compute capability ``major`` (8 = Ampere, native bf16; 7 = a T4)."""
    def set_major(major):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (major, 0))
        return torch.device("cuda")
    return set_major


def test_auto_plan_per_device_and_loss(gpu):
    """What auto turns on: an Ampere+ GPU gets everything (compile not for wgan-gp / spectral norm),
    the CPU only channels_last and only where it is faster (>= 16 channels)."""
    G, D = DCGANGenerator(16, 1, 32, 16), DCGANDiscriminator(1, 32, 16)
    cuda, cpu = gpu(8), torch.device("cpu")
    p = F.resolve_plan(TrainConfig(steps=F.COMPILE_MIN_STEPS), cuda, G, D)
    assert p.channels_last and p.compile is True and p.device_data and p.cudnn_benchmark
    assert p.autocast_dtype == "bfloat16" and not p.grad_scaler
    assert F.resolve_plan(TrainConfig(steps=3000), cuda, G, D).compile is False  # compile would not pay
    assert F.resolve_plan(TrainConfig(steps=3000, compile=True), cuda, G, D).compile is True
    assert F.resolve_plan(TrainConfig.preset("wgan-gp", compile=True), cuda, G,
                          DCGANDiscriminator(1, 32, 16, norm="layer")).compile is False
    assert F.resolve_plan(TrainConfig(compile=True), cuda, G, DCGANDiscriminator(1, 32, 16, norm="spectral")).compile is False
    assert F.resolve_plan(TrainConfig(compile=False), cuda, G, D).compile is False
    p = F.resolve_plan(TrainConfig(), cpu, G, D)
    assert p.channels_last and p.compile is False and p.dtype is None and not p.device_data and not p.grad_scaler
    narrow = F.resolve_plan(TrainConfig(), cpu, DCGANGenerator(16, 1, 32, 8), DCGANDiscriminator(1, 32, 8))
    assert not narrow.channels_last
    assert F.resolve_plan(TrainConfig(fast=False), cuda, G, D) == F.PLAIN
    from gan_utils.models import MLPDiscriminator, MLPGenerator
    mps = F.resolve_plan(TrainConfig(), torch.device("mps"), G, D)
    assert not (mps.channels_last or mps.dtype or mps.compile)  # nothing measured on Apple GPUs
    toy = F.resolve_plan(TrainConfig(), cuda, MLPGenerator(8, (2,)), MLPDiscriminator((2,)))
    assert toy.dtype is None and not toy.channels_last  # toys keep float32 precision


def test_a_gpu_without_native_bf16_gets_fp16_with_a_grad_scaler_and_no_compile(gpu):
    """Guards against a T4 (sm_75) training in plain fp32 (its slowest path) or in emulated bf16,
    and against compiling there (it would not pay back); precision='fp32' forces float32."""
    G, D = DCGANGenerator(16, 1, 32, 16), DCGANDiscriminator(1, 32, 16)
    t4 = gpu(7)
    p = F.resolve_plan(TrainConfig(steps=10 * F.COMPILE_MIN_STEPS), t4, G, D)
    assert p.autocast_dtype == "float16" and p.grad_scaler and p.channels_last
    assert p.compile is False and not F.auto_compile(t4, 10 * F.COMPILE_MIN_STEPS)
    assert F.resolve_plan(TrainConfig(compile=True), t4, G, D).compile is False      # never, even when asked
    fp32 = F.resolve_plan(TrainConfig(precision="fp32"), t4, G, D)
    assert fp32.autocast_dtype is None and not fp32.grad_scaler
    assert F.resolve_plan(TrainConfig(precision="fp32"), gpu(9), G, D).autocast_dtype is None


def test_compile_is_decided_from_the_remaining_steps_not_the_chunk(gpu):
    """Guards against a chunked run (notebook 08) deciding per chunk: a 5000-step chunk of a
    60 000-step run must compile, the last 5000 steps of a run must not."""
    G, D = DCGANGenerator(16, 1, 32, 16), DCGANDiscriminator(1, 32, 16)
    cuda = gpu(8)
    assert F.resolve_plan(TrainConfig(steps=5000), cuda, G, D, remaining_steps=60_000).compile is True
    assert F.resolve_plan(TrainConfig(steps=60_000), cuda, G, D, remaining_steps=5000).compile is False


def test_fast_off_and_nothing_to_do_are_the_plain_loop():
    """fast=False and an auto plan with nothing on (narrow net on the CPU) run the same eager loop."""
    a, b = _run(fast=False, width=8, steps=6), _run(width=8, steps=6)
    assert a.history["loss_D"] == b.history["loss_D"]
    assert all(torch.equal(x, y) for x, y in zip(a.G.state_dict().values(), b.G.state_dict().values()))


def test_compile_warmup_leaves_no_trace_and_failure_falls_back(monkeypatch):
    """Compiling runs a throw-away step: weights, BatchNorm statistics and RNG must be restored,
    so compiled (aot_eager) == eager bit for bit; a compiler that fails falls back to eager."""
    eager = _run(F.FastPlan(channels_last=True), steps=6)
    compiled = _run(F.FastPlan(channels_last=True, compile="aot_eager"), steps=6)
    assert compiled.fast["compiled"] is True
    assert eager.history["loss_D"] == compiled.history["loss_D"]
    assert all(torch.equal(x, y) for x, y in zip(eager.G.state_dict().values(), compiled.G.state_dict().values()))

    def broken_compile(*args, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken_compile)
    with pytest.warns(RuntimeWarning, match="eager"):
        fallback = _run(F.FastPlan(channels_last=True, compile=True), steps=6)
    assert fallback.fast["compiled"] is False and "no compiler here" in fallback.fast["compile_error"]
    assert eager.history["loss_D"] == fallback.history["loss_D"]


def test_layout_and_global_settings_are_handed_back():
    """After train() G, D, G_ema and Adam's moments are NCHW again (a learner's .view() works),
    also when training stops with an exception; cudnn.benchmark is unchanged."""
    bench = torch.backends.cudnn.benchmark
    seen = []

    seed_everything(0)
    G, D = DCGANGenerator(16, 3, 32, 16), DCGANDiscriminator(3, 32, 16)

    def live_plot(info):  # what a notebook's callback does with the EMA generator, G or D
        seen.append(info["G_ema"](torch.randn(2, 16)).view(2, -1).shape)
        assert all(p.is_contiguous() for p in list(G.parameters()) + list(D.parameters()))
        torch.cat([p.detach().view(-1) for p in D.parameters()])  # a weight histogram

    loader = InMemoryLoader(synthetic_images(64, 3, 32), 16)
    r = train(G, D, loader, TrainConfig(latent_dim=16, steps=4, batch_size=16, log_every=2), callback=live_plot,
              progress=False)
    assert r.fast["channels_last"] and seen == [(2, 3072)] * 2
    for m in (r.G, r.D, r.G_ema):
        assert all(p.is_contiguous() for p in m.parameters())
    assert r.G_ema(torch.randn(2, 16)).view(2, -1).shape == (2, 3072)
    assert r.samples[-1][1].view(64, -1).shape == (64, 3072)
    assert torch.backends.cudnn.benchmark == bench

    G, D = DCGANGenerator(16, 1, 32, 16), DCGANDiscriminator(1, 32, 16)
    loader = InMemoryLoader(synthetic_images(64, 1, 32), 16)

    def stop(info):
        raise KeyboardInterrupt

    cfg = TrainConfig(latent_dim=16, steps=5, batch_size=16, log_every=2)
    opts = make_optimizers(G, D, cfg)
    with pytest.raises(KeyboardInterrupt):
        train(G, D, loader, cfg, callback=stop, progress=False, optimizers=opts)
    assert all(p.is_contiguous() for p in list(G.parameters()) + list(D.parameters()))
    moments = [v for o in opts for st in o.state.values() for v in st.values() if v.dim() == 4]
    assert moments and all(v.is_contiguous() for v in moments)


def _resumable(tmp, steps, kill_at=None):
    seed_everything(0)
    G, D = DCGANGenerator(16, 1, 32, 16), DCGANDiscriminator(1, 32, 16)
    loader = InMemoryLoader(synthetic_images(96, 1, 32, seed=1), 16, seed=3)
    cfg = TrainConfig(latent_dim=16, steps=steps, batch_size=16, ckpt_every=4, log_every=2, sample_every=0, n_samples=4)

    def cb(info):
        if kill_at is not None and info["step"] >= kill_at:
            raise KeyboardInterrupt("simulated kill")

    return train(G, D, loader, cfg, out_dir=tmp, resume=True, callback=cb, progress=False)


def test_kill_and_resume_is_bit_exact_with_channels_last(tmp_path):
    """The layout is undone on the way out and redone on resume: still bit-exact on the CPU."""
    full = _resumable(tmp_path / "a", 10)
    assert full.fast["channels_last"]
    with pytest.raises(KeyboardInterrupt):
        _resumable(tmp_path / "b", 10, kill_at=6)
    assert load_checkpoint(tmp_path / "b")["step"] == 4
    seed_everything(123)
    resumed = _resumable(tmp_path / "b", 10)
    for a, b in ((full.G, resumed.G), (full.D, resumed.D), (full.G_ema, resumed.G_ema)):
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert full.history["loss_D"] == resumed.history["loss_D"]


def test_loader_is_not_moved_on_the_cpu():
    loader = InMemoryLoader(synthetic_images(64, 1, 32), 16)
    assert F.move_loader(loader, torch.device("cpu")) is None


def test_a_later_compile_error_runs_that_call_eagerly():
    """A recompilation failing mid-run (e.g. a new batch shape) must not kill training."""
    from torch._dynamo.exc import TorchDynamoException  # base of dynamo/inductor compile errors

    D = DCGANDiscriminator(1, 32, 16)
    fm = F.FastModule(D, F.FastPlan(channels_last=True), "cpu")

    def failing(x):
        raise TorchDynamoException("backend compiler failed: boom")

    fm.set_run(failing)
    x = torch.randn(4, 1, 32, 32)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = fm(x)
    assert out.shape == (4,) and not fm.compiled and any("eager" in str(m.message) for m in w)


def test_fp16_with_grad_scaler_trains_the_same_model(monkeypatch):
    """The T4 path, forced on the CPU: fp16 autocast + one GradScaler per optimiser (the gradient
    penalty unscales its inner gradient) agrees with fp32 for DCGAN and WGAN-GP, and skips no
    step (guards against torch's default initial scale, 2**16, which overflowed the first steps)."""
    fp16 = F.FastPlan(channels_last=True, autocast_dtype="float16", grad_scaler=True)
    scales, update = [], torch.amp.GradScaler.update

    def recording_update(self, *a, **k):
        update(self, *a, **k)
        scales.append(self.get_scale())

    monkeypatch.setattr(torch.amp.GradScaler, "update", recording_update)
    plain, fast = _run(fast=False, steps=8), _run(fp16, steps=8)
    assert fast.fast["grad_scaler"] and fast.fast["autocast_dtype"] == "float16"
    _assert_same_model(plain, fast)
    plain, fast = _run(fast=False, loss="wgan-gp", steps=4), _run(fp16, loss="wgan-gp", steps=4)
    _assert_same_model(plain, fast, loss_tol=0.02, rel=True)
    assert all(np.isfinite(fast.history["gp"]))
    assert scales and min(scales) >= F.GRAD_SCALER_INIT, "an fp16 step overflowed and was skipped"


def _train_saved(tmp, fast, steps, resume=False):
    seed_everything(0)
    G, D = DCGANGenerator(16, 1, 32, 16), DCGANDiscriminator(1, 32, 16)
    loader = InMemoryLoader(synthetic_images(96, 1, 32, seed=1), 16, seed=3)
    cfg = TrainConfig(latent_dim=16, steps=steps, batch_size=16, log_every=2, sample_every=0, n_samples=4, fast=fast)
    return train(G, D, loader, cfg, out_dir=tmp, resume=resume, progress=False)


@pytest.mark.parametrize("first,then", [(None, False), (False, None)])
def test_checkpoints_are_layout_neutral_and_resume_under_another_plan(tmp_path, first, then):
    """Guards against checkpoints saved in channels_last (Adam moments included): resuming with
    another plan made fused Adam raise "params, grads, exp_avgs ... must have same layout"."""
    r = _train_saved(tmp_path, first, 4)
    assert r.fast["channels_last"] == (first is None)
    ck = load_checkpoint(tmp_path)
    tensors = [*ck["G"].values(), *ck["D"].values(), *ck["G_ema"].values(),
               *[v for o in ("opt_G", "opt_D") for st in ck[o]["state"].values() for v in st.values()
                 if torch.is_tensor(v)]]
    assert tensors and all(t.is_contiguous() for t in tensors), "a checkpoint tensor was saved channels_last"
    resumed = _train_saved(tmp_path, then, 8, resume=True)
    assert resumed.history["step"] == list(range(1, 9)) and np.all(np.isfinite(resumed.history["loss_D"]))
    assert all(p.is_contiguous() for p in resumed.G.parameters())


# ---------------------------------------------------------------- fp16 overflows are skipped steps, not divergences
@pytest.mark.parametrize("loss,kw", [("wgan-gp", {}), ("bce-ns", {"r1_gamma": 1.0})], ids=["wgan-gp", "bce-ns+R1"])
def test_an_fp16_overflow_in_a_penalty_is_a_counted_skip_not_the_end_of_the_run(monkeypatch, loss, kw):
    # guards against: the T4 path ending a WGAN-GP run with NonFiniteLossError when the scaler (doubling every
    # 2000 clean steps) reaches the scale at which the penalty's inner fp16 gradient overflows: GradScaler
    # rightly skips that step, and the NaN guard used to call the inf loss a divergence
    fp16 = F.FastPlan(channels_last=True, autocast_dtype="float16", grad_scaler=True)
    monkeypatch.setattr(F, "GRAD_SCALER_INIT", 2.0 ** 126)        # overflows float32 too: the CPU sees it
    r = _run(fp16, loss=loss, steps=10, width=8) if loss == "wgan-gp" else _run_no_bn(fp16, steps=10, **kw)
    skipped = np.array(r.history["skipped_D"])
    assert skipped.sum() >= 1, "no D step overflowed: the test did not exercise the skip"
    assert r.history["step"][-1] == 10, "the run stopped"
    bad = ~np.isfinite(r.history["loss_D"])
    assert np.all(skipped[bad] > 0), "a non-finite loss_D at a step the scaler did not skip"
    assert all(np.isfinite(v).all() for v in (p.detach() for p in r.D.parameters()))


def _run_no_bn(plan, steps, **cfg_kw):
    """bce-ns with R1 needs a D without BatchNorm (R1 is per sample)."""
    seed_everything(0)
    G, D = DCGANGenerator(16, 1, 32, 8), DCGANDiscriminator(1, 32, 8, norm="none")
    loader = InMemoryLoader(synthetic_images(256, 1, 32, seed=1), 32, seed=3)
    cfg = TrainConfig.preset("bce-ns", latent_dim=16, steps=steps, batch_size=32, log_every=5, n_samples=64, **cfg_kw)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(F, "resolve_plan", lambda *a, **k: plan)
        return train(G, D, loader, cfg, progress=False)


def test_under_fp16_a_real_divergence_still_stops_with_the_clear_error(monkeypatch):
    # guards against: the skip rule hiding a divergence (every step skipped, the loss NaN for ever)
    from gan_utils.loop import MAX_CONSECUTIVE_SKIPS
    from gan_utils.train import NonFiniteLossError

    fp16 = F.FastPlan(channels_last=True, autocast_dtype="float16", grad_scaler=True)
    seed_everything(0)
    G, D = DCGANGenerator(16, 1, 32, 8), DCGANDiscriminator(1, 32, 8, norm="layer")
    with torch.no_grad():
        next(D.parameters()).fill_(float("nan"))                    # D is broken: every step's gradients are NaN
    loader = InMemoryLoader(synthetic_images(256, 1, 32, seed=1), 32, seed=3)
    cfg = TrainConfig.preset("wgan-gp", latent_dim=16, steps=MAX_CONSECUTIVE_SKIPS + 10, batch_size=32,
                             log_every=5, n_critic=1, sample_every=0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(F, "resolve_plan", lambda *a, **k: fp16)
        with pytest.raises(NonFiniteLossError, match=f"skipped {MAX_CONSECUTIVE_SKIPS + 1} steps in a row"):
            train(G, D, loader, cfg, progress=False)


def test_the_penalties_read_the_scale_without_a_host_sync(monkeypatch):
    # guards against: GradScaler.get_scale() (a device-to-host copy) on every D step of the fp16 path
    from gan_utils.losses import gradient_penalty, r1_penalty

    def no_sync(self):
        raise AssertionError("get_scale() called in a penalty")

    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 8)
    monkeypatch.setattr(torch.amp.GradScaler, "get_scale", no_sync)
    D = DCGANDiscriminator(1, 32, 8, norm="layer")
    x, y = torch.randn(4, 1, 32, 32), torch.randn(4, 1, 32, 32)
    torch.manual_seed(0)
    plain = gradient_penalty(D, x, y)
    torch.manual_seed(0)
    scaled = gradient_penalty(D, x, y, grad_scaler=scaler)
    torch.testing.assert_close(scaled, plain, rtol=1e-5, atol=1e-6)   # the scale cancels: float32 round-off only
    torch.testing.assert_close(r1_penalty(D, x, grad_scaler=scaler), r1_penalty(D, x), rtol=1e-5, atol=1e-6)


def test_spectral_norm_models_stay_out_of_cuda_autocast_below_torch_2_4(monkeypatch):
    # guards against: torch 2.3.0 (within our floor) crashing in spectral norm under CUDA autocast (pytorch#125544)
    monkeypatch.setattr(F, "native_bf16", lambda device: True)        # plan for a bf16 GPU, on this CPU
    G, D = DCGANGenerator(16, 1, 32, 16), DCGANDiscriminator(1, 32, 16, norm="spectral")
    cfg = TrainConfig.preset("hinge", latent_dim=16, steps=4)
    monkeypatch.setattr(F, "_torch_version", lambda: (2, 3))
    plan = F.resolve_plan(cfg, torch.device("cuda"), G, D)
    assert plan.autocast_dtype is None and any("pytorch#125544" in n for n in plan.notes)
    monkeypatch.setattr(F, "_torch_version", lambda: (2, 4))
    assert F.resolve_plan(cfg, torch.device("cuda"), G, D).autocast_dtype == "bfloat16"
    assert F.resolve_plan(cfg, torch.device("cuda"), G, DCGANDiscriminator(1, 32, 16, norm="layer")).autocast_dtype \
        == "bfloat16"
