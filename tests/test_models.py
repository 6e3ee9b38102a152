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
