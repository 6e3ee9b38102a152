"""The training loop: each test names the GAN bug it guards against."""

import pytest
import torch
import torch.nn as nn

from gan_utils import seed_everything
from gan_utils.checkpoint import CheckpointError, load_checkpoint
from gan_utils.data import InMemoryLoader, synthetic_images
from gan_utils.lessons.toys import gaussian_1d
from gan_utils.models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from gan_utils.train import NonFiniteLossError, TrainConfig, d_step, g_step, make_optimizers, train


def _small_dcgan(channels=1, size=32, norm="batch"):
    return DCGANGenerator(16, channels, size, 8), DCGANDiscriminator(channels, size, 8, norm=norm)


def _params(m):
    return [p.detach().clone() for p in m.parameters()]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_missing_detach_in_D_step_would_train_G():
    """The D step must not put gradients into G nor change it."""
    G, D = _small_dcgan()
    cfg = TrainConfig(latent_dim=16)
    opt_g, opt_d = make_optimizers(G, D, cfg)
    before = _params(G)
    fake = G(torch.randn(4, 16))
    d_step(D, torch.rand(4, 1, 32, 32) * 2 - 1, fake, opt_d, cfg)
    assert all(p.grad is None for p in G.parameters())
    assert _same(before, _params(G))
    # and G's graph is still usable by the G step (no "backward through the graph a second time")
    g_step(D, fake, opt_g, cfg, G)


def test_G_step_does_not_change_D():
    G, D = _small_dcgan()
    cfg = TrainConfig(latent_dim=16)
    opt_g, _ = make_optimizers(G, D, cfg)
    before = _params(D)
    g_step(D, G(torch.randn(4, 16)), opt_g, cfg, G)
    assert _same(before, _params(D))
    assert all(p.grad is None for p in D.parameters()), "the G step wasted a backward into D's weights"
    assert all(p.requires_grad for p in D.parameters()), "D must be trainable again after the G step"
    assert any(p.grad is not None for p in G.parameters())


def test_clipping_happens_after_the_optimiser_step():
    """Clipping before the step lets the update push weights out of [-c, c] again."""
    G, D = _small_dcgan(norm="none")
    cfg = TrainConfig.preset("wgan-clip", latent_dim=16, lr_d=0.5)  # a huge step on purpose
    _, opt_d = make_optimizers(G, D, cfg)
    d_step(D, torch.randn(4, 1, 32, 32).tanh(), G(torch.randn(4, 16)), opt_d, cfg)
    assert max(p.abs().max().item() for p in D.parameters()) <= cfg.clip_value + 1e-12


def test_batchnorm_inside_a_GP_critic_is_refused():
    G, D = _small_dcgan(norm="batch")
    loader = InMemoryLoader(synthetic_images(64, 1, 32), 16)
    with pytest.raises(ValueError, match="BatchNorm"):
        train(G, D, loader, TrainConfig.preset("wgan-gp", latent_dim=16, steps=1, batch_size=16), progress=False)


def test_G_output_size_differs_from_D_input_size():
    G = DCGANGenerator(16, 1, 64, 8)
    D = DCGANDiscriminator(1, 32, 8)
    loader = InMemoryLoader(synthetic_images(64, 1, 32), 16)
    with pytest.raises(ValueError, match=r"\(1, 64, 64\)"):
        train(G, D, loader, TrainConfig(latent_dim=16, steps=1, batch_size=16), progress=False)


@pytest.mark.parametrize("scale", [1.0, 1 / 255.0])
def test_images_in_0_1_fed_against_a_tanh_generator(scale):
    """ToTensor gives [0, 1] (and a second /255 gives [0, 1/255]); tanh fakes are in [-1, 1]."""
    G, D = _small_dcgan()
    data = torch.rand(64, 1, 32, 32) * scale
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        train(G, D, InMemoryLoader(data, 16), TrainConfig(latent_dim=16, steps=1, batch_size=16), progress=False)


def _run(tmp, steps, kill_at=None, ckpt_every=5, seed=0):
    seed_everything(seed)
    G, D = _small_dcgan()
    loader = InMemoryLoader(synthetic_images(96, 1, 32, seed=1), 16, seed=3)
    cfg = TrainConfig(latent_dim=16, steps=steps, batch_size=16, ckpt_every=ckpt_every, log_every=3,
                      sample_every=10, n_samples=4)

    def cb(info):
        if kill_at is not None and info["step"] >= kill_at:
            raise KeyboardInterrupt("simulated kill")

    return train(G, D, loader, cfg, out_dir=tmp, resume=True, callback=cb, progress=False)


def test_kill_and_resume_is_bit_exact(tmp_path):
    full = _run(tmp_path / "a", 20)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "b", 20, kill_at=12)       # dies at step 12, after the step-10 checkpoint
    assert load_checkpoint(tmp_path / "b")["step"] == 10
    seed_everything(123)                            # a fresh process would have other RNG state
    resumed = _run(tmp_path / "b", 20)
    for a, b in ((full.G, resumed.G), (full.D, resumed.D), (full.G_ema, resumed.G_ema)):
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert full.history["loss_D"] == resumed.history["loss_D"]
    assert full.history["step"] == list(range(1, 21))


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    r = _run(tmp_path, 5)
    state = torch.load(tmp_path / "checkpoint_latest.pt", weights_only=True)
    G = DCGANGenerator(**{k: v for k, v in state["model_config"]["G"].items() if k != "kind"})
    G.load_state_dict(state["G_ema"])
    assert all(torch.equal(G.state_dict()[k], r.G_ema.state_dict()[k]) for k in state["G_ema"])
    assert state["config"]["steps"] == 5 and state["step"] == 5


def test_resume_with_another_config_is_refused(tmp_path):
    _run(tmp_path, 5)
    G, D = DCGANGenerator(16, 1, 64, 8), DCGANDiscriminator(1, 64, 8)
    loader = InMemoryLoader(synthetic_images(64, 1, 64), 16)
    with pytest.raises(CheckpointError, match="image_size"):
        train(G, D, loader, TrainConfig(latent_dim=16, steps=10, batch_size=16), out_dir=tmp_path,
              resume=True, progress=False)


def test_corrupt_checkpoint_gives_a_clear_error(tmp_path):
    p = tmp_path / "checkpoint_latest.pt"
    p.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable gan_utils checkpoint"):
        load_checkpoint(p)


class _NaNAfter(nn.Module):
    def __init__(self, D, after):
        super().__init__()
        self.D, self.after, self.calls = D, after, 0
        self.config = D.config

    def forward(self, x):
        self.calls += 1
        out = self.D(x)
        return out * float("nan") if self.calls > self.after else out


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    G, D = _small_dcgan()
    D = _NaNAfter(D, after=3 * 7)  # 3 D calls per step (real, fake, G step): NaN from step 8
    loader = InMemoryLoader(synthetic_images(96, 1, 32), 16)
    cfg = TrainConfig(latent_dim=16, steps=20, batch_size=16, ckpt_every=5, log_every=5)
    with pytest.raises(NonFiniteLossError, match="at step 8") as e:
        train(G, D, loader, cfg, out_dir=tmp_path, progress=False)
    assert "checkpoint_latest.pt" in str(e.value)
    ck = load_checkpoint(tmp_path)
    assert ck["step"] == 5
    assert all(torch.isfinite(v).all() for v in ck["G"].values() if v.is_floating_point())


def test_mlp_gan_learns_a_1d_gaussian():
    """The learning test: N(4, 1.25^2) to within 0.2 in mean and std, seeded, on CPU."""
    seed_everything(0)
    x = gaussian_1d(20000, 4.0, 1.25, generator=torch.Generator().manual_seed(1))
    G = MLPGenerator(8, (1,), hidden=32, depth=2)
    D = MLPDiscriminator((1,), hidden=32, depth=2)
    cfg = TrainConfig(steps=1200, batch_size=256, latent_dim=8, lr_g=1e-3, lr_d=1e-3, log_every=200,
                      n_samples=10000, grad_norms=False)
    r = train(G, D, InMemoryLoader(x, 256), cfg, progress=False)
    s = r.samples[-1][1]  # EMA generator on the fixed noise
    assert abs(s.mean().item() - 4.0) < 0.2, s.mean()
    assert abs(s.std().item() - 1.25) < 0.2, s.std()


def test_history_has_every_step_and_the_named_scalars():
    G, D = _small_dcgan()
    loader = InMemoryLoader(synthetic_images(64, 1, 32), 16)
    r = train(G, D, loader, TrainConfig(latent_dim=16, steps=7, batch_size=16, log_every=3), progress=False)
    for k in ("loss_D", "loss_G", "D_x", "D_G_z", "grad_norm_D", "grad_norm_G", "images_per_s"):
        assert len(r.history[k]) == 7, k
    assert r.history["step"] == list(range(1, 8))
    assert r.samples[-1][1].shape == (64, 1, 32, 32)


@pytest.mark.parametrize("loss", ["bce-saturating", "wgan-clip", "wgan-gp"])
def test_every_loss_variant_runs(loss):
    G, D = _small_dcgan(norm="layer" if loss == "wgan-gp" else "batch")
    loader = InMemoryLoader(synthetic_images(64, 1, 32), 16)
    r = train(G, D, loader, TrainConfig.preset(loss, latent_dim=16, steps=3, batch_size=16), progress=False)
    assert len(r.history["loss_D"]) == 3
    if loss == "wgan-gp":
        assert "gp" in r.history and "W_estimate" in r.history
