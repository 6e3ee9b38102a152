"""Models: shapes, initialisation, normalisation options."""
import pytest
import torch
import torch.nn as nn

from gan_utils.models import (NORMS, DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator,
                              build_model, has_batchnorm, layer_table)


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes_and_logits(size, channels):
    G = DCGANGenerator(32, channels, size, 16)
    x = G(torch.randn(5, 32))
    assert x.shape == (5, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1, "tanh output"
    for norm in NORMS:
        out = DCGANDiscriminator(channels, size, 16, norm=norm)(x)
        assert out.shape == (5,), "raw logits of shape (B,), not (B, 1, 1, 1)"


def test_discriminator_returns_logits_not_probabilities():
    """A Sigmoid at the end of D plus BCEWithLogits squashes twice; logits must reach outside [0, 1]."""
    D = DCGANDiscriminator(1, 32, 16)
    assert not any(isinstance(m, nn.Sigmoid) for m in D.modules())


def test_dcgan_init_statistics():
    """Missing DCGAN init: conv weights N(0, 0.02), BN weight N(1, 0.02), BN bias 0."""
    torch.manual_seed(0)
    for m in (DCGANGenerator(100, 3, 64, 64), DCGANDiscriminator(3, 64, 64)):
        convs = torch.cat([c.weight.flatten() for c in m.modules() if isinstance(c, (nn.Conv2d, nn.ConvTranspose2d))])
        assert abs(convs.mean()) < 1e-3 and abs(convs.std() - 0.02) < 1e-3
        bns = [b for b in m.modules() if isinstance(b, nn.BatchNorm2d)]
        w = torch.cat([b.weight for b in bns])
        assert abs(w.mean() - 1) < 5e-3 and abs(w.std() - 0.02) < 5e-3
        assert all(torch.all(b.bias == 0) for b in bns)


def test_critic_norm_options():
    assert has_batchnorm(DCGANDiscriminator(1, 32, 8, norm="batch"))
    for norm in ("layer", "none", "spectral"):
        assert not has_batchnorm(DCGANDiscriminator(1, 32, 8, norm=norm)), norm
    sn = DCGANDiscriminator(1, 32, 8, norm="spectral")
    assert any(hasattr(m, "parametrizations") for m in sn.modules())


def test_spectral_norm_bounds_the_layer_gain():
    torch.manual_seed(0)
    D = DCGANDiscriminator(1, 32, 8, norm="spectral").train()
    for _ in range(30):  # power iterations converge during forward passes in train mode
        D(torch.randn(4, 1, 32, 32))
    conv = D.net[0]
    sigma = torch.linalg.matrix_norm(conv.weight.flatten(1), ord=2)
    assert sigma < 1.05


def test_layer_norm_critic_does_not_mix_samples():
    """A critic for the per-sample gradient penalty: sample i's score must not depend on sample j."""
    D = DCGANDiscriminator(1, 32, 8, norm="layer").train()
    x = torch.randn(4, 1, 32, 32)
    y = x.clone()
    y[1:] = torch.randn(3, 1, 32, 32)
    assert torch.allclose(D(x)[0], D(y)[0], atol=1e-6)


def test_unsupported_image_size_and_latent_shape_errors():
    with pytest.raises(ValueError, match="image_size"):
        DCGANGenerator(100, 1, 48)
    with pytest.raises(ValueError, match=r"\(B, 100\)"):
        DCGANGenerator(100, 1, 32)(torch.randn(2, 100, 1, 1))  # (B, nz, 1, 1) fed where (B, nz) expected
    with pytest.raises(ValueError, match="image_size=32"):
        DCGANDiscriminator(1, 32)(torch.randn(2, 1, 28, 28))


def test_build_model_round_trip():
    for m in (MLPGenerator(8, (1, 28, 28), tanh_output=True), MLPDiscriminator((2,)),
              DCGANGenerator(16, 3, 64, 8), DCGANDiscriminator(3, 64, 8, norm="spectral")):
        m2 = build_model(m.config)
        m2.load_state_dict(m.state_dict())
        assert type(m2) is type(m)


def test_layer_table_shapes():
    rows = layer_table(DCGANGenerator(100, 1, 32, 64), (100,))
    assert rows[-1][1] == (1, 32, 32)
    assert sum(r[2] for r in rows) == sum(p.numel() for p in DCGANGenerator(100, 1, 32, 64).parameters())


# ---------------------------------------------------------------- MinibatchStdDev, BatchNorm statistics
def test_minibatch_stddev_equals_a_hand_computation_per_group():
    # guards against: the std taken over the wrong axis (channels instead of the group's samples),
    # groups formed from neighbours instead of i mod (B / G), or the sample std (ddof=1) instead of
    # the population std of the reference code
    from gan_utils.models import MinibatchStdDev

    torch.manual_seed(0)
    x = torch.randn(8, 3, 4, 4, dtype=torch.float64)
    out = MinibatchStdDev(group_size=4)(x)
    assert out.shape == (8, 4, 4, 4) and torch.equal(out[:, :3], x)
    m = 8 // 4
    for i in range(8):
        group = x[[j for j in range(8) if j % m == i % m]]              # the 4 samples of i's group
        var = ((group - group.mean(0)) ** 2).mean(0)                    # population variance per feature
        expected = (var + 1e-8).sqrt().mean()
        assert torch.allclose(out[i, 3], expected.expand(4, 4), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="multiple of 4"):
        MinibatchStdDev(4)(torch.randn(6, 1, 2, 2))
    assert MinibatchStdDev(4)(torch.randn(2, 1, 2, 2)).shape == (2, 2, 2, 2)   # a smaller batch: one group


def test_minibatch_stddev_tells_a_collapsed_batch_from_a_varied_one():
    from gan_utils.models import MinibatchStdDev

    varied = torch.randn(4, 2, 3, 3)
    collapsed = varied[:1].expand(4, 2, 3, 3)
    layer = MinibatchStdDev(4)
    assert float(layer(collapsed)[0, 2, 0, 0]) == pytest.approx(1e-4)    # sqrt(0 + 1e-8)
    assert float(layer(varied)[0, 2, 0, 0]) > 0.3


def test_recomputed_batchnorm_statistics_of_a_conditional_generator_use_every_class():
    # guards against: recompute_batchnorm_stats calling G(z) without labels (a conditional G fails)
    from gan_utils.models import recompute_batchnorm_stats

    G = DCGANGenerator(8, 1, 32, width=8, num_classes=3)
    out = recompute_batchnorm_stats(G, n_batches=2, batch_size=6)
    assert not out.training and out is not G
    bn = [m for m in out.modules() if isinstance(m, torch.nn.BatchNorm2d)][0]
    assert bn.num_batches_tracked == 2 and float(bn.running_mean.abs().sum()) > 0


def test_evaluation_of_an_ema_generator_recomputes_its_batchnorm_statistics(monkeypatch):
    # guards against: scoring an EMA generator with the raw G's copied running statistics (notebook 04)
    from gan_utils import experiment, models

    calls = []
    real = models.recompute_batchnorm_stats
    monkeypatch.setattr(models, "recompute_batchnorm_stats", lambda G, **k: calls.append(k) or real(G, **k))
    G = DCGANGenerator(100, 3, 32, width=8)
    opts = {"dataset": "synthetic", "n_eval": 64, "features": "pixels"}
    ext = experiment.PixelFeatures(channels=3)
    real_images = torch.rand(128, 3, 32, 32) * 2 - 1
    a = experiment.evaluate(G, opts, ext, real_images=real_images, ema=True)
    assert len(calls) == 1 and "BatchNorm statistics recomputed" in a["protocol"]
    b = experiment.evaluate(G, opts, ext, real_images=real_images, ema=False)
    assert len(calls) == 1 and "recomputed" not in b["protocol"] and a["value"] != b["value"]


# ---------------------------------------------------------------- the truncation trick's geometry (notebook 09)
def test_truncated_normal_variance_is_the_variance_of_the_truncated_draws():
    # guards against: a wrong closed form behind notebook 09's typical norms (sqrt(d v(t)))
    import math

    from gan_utils.models import truncated_normal, truncated_normal_variance

    assert truncated_normal_variance(None) == truncated_normal_variance(math.inf) == 1.0
    for t in (0.25, 0.5, 1.0, 2.0):
        z = truncated_normal(20000, 10, t, seed=1)
        # 200 000 draws: the standard error of a variance estimate is ~ sqrt(2/N) v, a few 1e-3 v
        assert float(z.var()) == pytest.approx(truncated_normal_variance(t), rel=0.02)
    with pytest.raises(ValueError, match="> 0"):
        truncated_normal_variance(0.0)


def test_notebook_09_truncation_numbers_hold_in_100_dimensions():
    # guards against: the prose of notebook 09 and models.truncated_normal's docstring drifting from the maths:
    # training codes lie near radius sqrt(d) = 10, a code truncated at t = 1 has norm ~5.4, and a training code
    # that short has probability ~3e-13 (prose: "about 1e-13")
    import math

    from scipy import stats

    from gan_utils.models import truncated_normal_variance

    d = 100
    assert math.sqrt(d) == 10
    lo, hi = stats.chi2.ppf([0.001, 0.999], d) ** 0.5
    assert 7.8 < lo < 8.0 and 12.1 < hi < 12.3                     # 99.8 % of training codes: a shell around 10
    v1 = truncated_normal_variance(1.0)
    assert round(math.sqrt(d * v1), 1) == 5.4
    p = stats.chi2.cdf(d * v1, d)
    assert 1e-13 < p < 1e-12 and f"{p:.0e}" == "3e-13"


def test_batchnorm_statistics_can_be_recomputed_on_truncated_codes():
    # guards against: the truncation argument being ignored (the statistics of untruncated codes returned), which
    # would make notebook 09's test of the BatchNorm explanation compare a curve with itself
    from gan_utils.models import recompute_batchnorm_stats

    torch.manual_seed(0)
    G = DCGANGenerator(16, 1, 32, width=8)
    plain = recompute_batchnorm_stats(G, n_batches=2, batch_size=32)
    again = recompute_batchnorm_stats(G, n_batches=2, batch_size=32)
    tight = recompute_batchnorm_stats(G, n_batches=2, batch_size=32, truncation=0.5)
    bn = lambda m: [b.running_var.clone() for b in m.modules() if isinstance(b, nn.BatchNorm2d)]   # noqa: E731
    assert all(torch.equal(a, b) for a, b in zip(bn(plain), bn(again)))                            # seeded
    first_plain, first_tight = bn(plain)[0], bn(tight)[0]
    # codes of variance v(0.5) ~ 0.08 make the first layer's pre-BatchNorm activations much less spread out
    assert float(first_tight.mean()) < 0.5 * float(first_plain.mean())
