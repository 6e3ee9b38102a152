"""The style generator of notebook 12 and its pieces: modulated convolution, demodulation, equalised learning
rate, truncation in W, style mixing, noise inputs, w_avg, perceptual path length; and its training run."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gan_utils.models import (EqualisedLinear, StyleDiscriminator, StyleGenerator, build_model, modulated_conv2d,
                              sample, slerp, truncate)


# ---------------------------------------------------------------- modulated convolution
def _per_sample_loop(x, weight, styles, demodulate, padding):
    """The definition, one sample at a time: w'_jik = s_i w_jik, w'' = w' / sqrt(sum_ik w'^2 + 1e-8)."""
    out = []
    for b in range(x.shape[0]):
        w = weight * styles[b][None, :, None, None]                              # (C_out, C_in, k, k)
        if demodulate:
            w = w / torch.sqrt(w.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        out.append(F.conv2d(x[b:b + 1], w, padding=padding))
    return torch.cat(out)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("k,padding", [(3, None), (3, 0), (1, None)])
def test_modulated_conv2d_equals_a_per_sample_loop_of_ordinary_convolutions(fused, demodulate, k, padding):
    # guards against: styles applied to the output channels instead of the input ones, demodulation over the
    # wrong axes (per input channel, or over the batch), the grouped reshape mixing samples
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 6, 9, 9, generator=g)
    weight = torch.randn(4, 6, k, k, generator=g)
    styles = torch.randn(5, 6, generator=g) + 1.0
    got = modulated_conv2d(x, weight, styles, demodulate=demodulate, padding=padding, fused=fused)
    want = _per_sample_loop(x, weight, styles, demodulate, k // 2 if padding is None else padding)
    assert got.shape == want.shape
    # float32, each output a sum of 6*k*k products: a few hundred ulps is ample, 1e-5 as the issue asks
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-5), (got - want).abs().max()
    got64 = modulated_conv2d(x.double(), weight.double(), styles.double(), demodulate=demodulate, padding=padding,
                             fused=fused)
    assert torch.allclose(got64, _per_sample_loop(x.double(), weight.double(), styles.double(), demodulate,
                                                  k // 2 if padding is None else padding), rtol=1e-12, atol=1e-12)


def test_modulated_conv2d_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="styles"):
        modulated_conv2d(torch.randn(2, 3, 4, 4), torch.randn(5, 3, 3, 3), torch.randn(2, 5))


def test_demodulated_output_has_unit_variance_for_unit_variance_input():
    # guards against: a demodulation that normalises by the wrong sum (eq. 3 of StyleGAN2), so that the
    # output variance depends on the style again
    g = torch.Generator().manual_seed(2)
    x = torch.randn(8, 16, 64, 64, generator=g, dtype=torch.float64)            # i.i.d. N(0, 1)
    weight = torch.randn(16, 16, 3, 3, generator=g, dtype=torch.float64)
    styles = torch.rand(8, 16, generator=g, dtype=torch.float64) * 3 + 0.1      # very unequal styles
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))               # away from the zero padding
    y = modulated_conv2d(x, weight, styles, demodulate=True)[inner]
    # each output pixel: a sum with squared coefficients summing to 1 -> variance 1 exactly. Estimated from
    # 8*16*62*62 ~ 4.9e5 values, neighbours correlated (<= 9 share inputs): std of the estimate < 0.01
    assert abs(float(y.var()) - 1.0) < 0.05
    per_map = y.var(dim=(2, 3))                                                  # (B, C_out)
    assert float(per_map.min()) > 0.7 and float(per_map.max()) < 1.3            # no map far from 1
    # without demodulation each map's variance is sigma_j^2 = sum_ik (s_i w_jik)^2 (eq. 2)
    y_mod = modulated_conv2d(x, weight, styles, demodulate=False)[inner]
    sigma2 = (weight[None] * styles[:, None, :, None, None]).square().sum(dim=(2, 3, 4))
    ratio = y_mod.var(dim=(2, 3)) / sigma2
    assert abs(float(ratio.mean()) - 1.0) < 0.05 and float(sigma2.max() / sigma2.min()) > 3


# ---------------------------------------------------------------- equalised learning rate
def test_equalised_learning_rate_makes_the_adam_step_independent_of_fan_in():
    # guards against: the runtime scale folded into the initialisation (plain He init), where Adam's first step
    # (lr per stored number, whatever the gradient) is relatively sqrt(fan_in) times larger for wide layers
    from gan_utils.lessons.stylegan import relative_adam_step

    torch.manual_seed(0)
    lr = 1e-3
    for fan_in in (16, 1024):
        layer = EqualisedLinear(fan_in, 256)
        w = torch.nn.Parameter(torch.randn(256, fan_in) / math.sqrt(fan_in))     # He init done once
        before = w.detach().clone()
        # Adam's first step is lr * g / (|g| + eps) = lr per element: relative step lr * lr_mul for every fan-in
        assert relative_adam_step(lambda: layer.weight * layer.weight_gain, [layer.weight], lr) == pytest.approx(lr, rel=0.05)
        assert relative_adam_step(lambda: w, [w], lr) == pytest.approx(lr * math.sqrt(fan_in), rel=0.05)
        assert torch.equal(w.detach(), before)                                    # the helper restores the weights
    slow = EqualisedLinear(64, 64, lr_mul=0.01)                                 # the mapping network's layers
    assert relative_adam_step(lambda: slow.weight * slow.weight_gain, [slow.weight], lr) == pytest.approx(lr * 0.01,
                                                                                                       rel=0.05)


def test_equalised_linear_initialises_like_he_with_unit_weights_stored():
    torch.manual_seed(0)
    layer = EqualisedLinear(400, 300, lr_mul=0.01, bias_init=1.0)
    assert float(layer.weight.detach().std() * 0.01) == pytest.approx(1.0, rel=0.02)    # v ~ N(0, 1 / lr_mul^2)
    assert float((layer.weight.detach() * layer.weight_gain).std()) == pytest.approx(1 / math.sqrt(400), rel=0.02)
    assert torch.allclose(layer(torch.zeros(2, 400)), torch.ones(2, 300))       # the effective bias is bias_init


# ---------------------------------------------------------------- the generator
def _small(**kw):
    return StyleGenerator(latent_dim=16, w_dim=12, channels=1, image_size=16, width=4, mapping_layers=2, **kw)


def test_style_generator_shapes_layers_and_config_round_trip():
    G = _small()
    assert G.num_ws == 1 + 2 * 2 + 1                                             # 4x4, two per doubling, tRGB
    assert G(torch.randn(3, 16)).shape == (3, 1, 16, 16)
    assert G.mapping(torch.randn(3, 16)).shape == (3, 12)
    G2 = build_model(G.config)                                                   # checkpoints rebuild it
    G2.load_state_dict(G.state_dict())
    z = torch.randn(2, 16)
    assert torch.equal(G.eval()(z, noise_mode="const"), G2.eval()(z, noise_mode="const"))
    D = StyleDiscriminator(1, 16, 4)
    assert D(G(torch.randn(4, 16))).shape == (4,)
    assert isinstance(build_model(D.config), StyleDiscriminator)
    with pytest.raises(ValueError, match="power of two|doubling"):
        StyleGenerator(image_size=28)


def test_truncate_endpoints_and_broadcasting():
    g = torch.Generator().manual_seed(0)
    w, w_avg = torch.randn(5, 3, 7, generator=g), torch.randn(7, generator=g)
    assert torch.equal(truncate(w, 1.0, w_avg), w)                              # psi = 1: unchanged
    assert torch.allclose(truncate(w, 0.0, w_avg), w_avg.expand(5, 3, 7))       # psi = 0: the centre
    assert torch.allclose(truncate(w, 0.5, w_avg), (w + w_avg) / 2)
    per_layer = torch.tensor([0.0, 1.0, 1.0])[:, None]                           # one psi per layer: (L, 1)
    out = truncate(w, per_layer, w_avg)
    assert torch.allclose(out[:, 0], w_avg.expand(5, 7)) and torch.equal(out[:, 1:], w[:, 1:])


def test_truncation_psi_zero_gives_the_average_image():
    torch.manual_seed(0)
    G = _small().double().eval()                          # float64: batch and single-image kernels agree to ~1e-15
    G.w_avg.normal_()
    z = torch.randn(4, 16, dtype=torch.float64)
    x = G(z, truncation_psi=0.0, noise_mode="none")
    avg = G.synthesis(G.broadcast(G.w_avg[None]), noise_mode="none")
    assert torch.allclose(x, avg.expand_as(x), rtol=0, atol=1e-10)
    assert not torch.allclose(G(z, noise_mode="none")[0], G(z, noise_mode="none")[1])
    # one psi per layer (StyleGAN truncated the coarse layers only): psi = 0 everywhere is the same as the number 0
    per_layer = torch.zeros(G.num_ws, 1, dtype=torch.float64)
    assert torch.allclose(G(z, truncation_psi=per_layer, noise_mode="none"), x, rtol=0, atol=1e-10)


def _styles_read_per_layer(G, ws):
    """The w each layer's affine map received (forward hooks), in layer order."""
    seen = []
    affines = [layer.affine for layer in G.synthesis.layers] + [G.synthesis.to_image.affine]
    hooks = [a.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach().clone())) for a in affines]
    try:
        G.synthesis(ws, noise_mode="none")
    finally:
        for h in hooks:
            h.remove()
    return seen


@pytest.mark.parametrize("crossover", [0, 1, 3, 6])
def test_style_mixing_uses_the_first_w_below_the_crossover_and_the_second_above(crossover):
    # guards against: an off-by-one at the crossover, or the two codes swapped (coarse styles from the second)
    G = _small().eval()
    w1, w2 = torch.randn(2, 12), torch.randn(2, 12)
    seen = _styles_read_per_layer(G, G.mix(w1, w2, crossover))
    assert len(seen) == G.num_ws
    for i, w in enumerate(seen):
        assert torch.equal(w, w1 if i < crossover else w2), f"layer {i} with crossover {crossover}"


def test_training_mode_mixes_styles_and_tracks_w_avg_eval_mode_does_neither():
    # guards against: w_avg never updated (truncation would pull towards 0), or updated in eval mode (sampling
    # would change the generator), and mixing left on at evaluation
    torch.manual_seed(0)
    G = _small(style_mixing=1.0, w_avg_beta=0.5)
    z = torch.randn(32, 16)
    with torch.no_grad():
        G.eval()
        G(z)
        assert torch.equal(G.w_avg, torch.zeros(12))
        G.train()
        G(z)
    assert torch.allclose(G.w_avg, 0.5 * G.mapping(z).mean(0).detach(), atol=1e-6)   # lerp(mean, 0, beta = 0.5)
    seen = []
    hook = G.synthesis.to_image.affine.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    with torch.no_grad():
        G(z)                                                                      # style_mixing = 1: always mixes
    hook.remove()
    assert not torch.allclose(seen[0], G.mapping(z))                             # the last layer read the second w


def test_noise_modes():
    torch.manual_seed(0)
    G = _small().eval()
    for layer in G.synthesis.layers:
        layer.noise.strength.data.fill_(0.5)
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.equal(G(z, noise_mode="const"), G(z, noise_mode="const"))
        assert torch.equal(G(z, noise_mode="none"), G(z, noise_mode="none"))
        assert not torch.equal(G(z, noise_mode="random"), G(z, noise_mode="random"))
        with pytest.raises(ValueError, match="noise_mode"):
            G(z, noise_mode="fixed")


def test_sampling_seeds_the_noise_and_leaves_the_global_stream_alone():
    # guards against: samples of a generator with noise inputs changing from call to call (FD not reproducible),
    # or sampling (a training run's grids) consuming the global random stream and so changing the run
    G = _small()
    for layer in G.synthesis.layers:
        layer.noise.strength.data.fill_(1.0)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    a = sample(G, 6, seed=1, batch_size=4)
    assert torch.equal(torch.rand(3), expected)
    assert torch.equal(a, sample(G, 6, seed=1, batch_size=4)) and not torch.equal(a, sample(G, 6, seed=2, batch_size=4))


def test_sample_truncates_in_w_for_a_style_generator():
    # guards against: the CLI's --truncation drawing truncated z for a style generator instead of psi in W
    G = _small()
    G.w_avg.normal_()
    assert all(float(layer.noise.strength.abs().sum()) == 0 for layer in G.synthesis.layers)   # noise starts off
    x0 = sample(G, 3, seed=0, truncation=0.0)                   # psi = 0: every code becomes w_avg
    assert torch.allclose(x0[0], x0[1], atol=1e-5) and torch.allclose(x0[0], x0[2], atol=1e-5)
    assert not torch.allclose(sample(G, 3, seed=0, truncation=1.0)[0], sample(G, 3, seed=0, truncation=1.0)[1])


def test_adain_layers_normalise_away_the_scale_of_their_input():
    # the property that makes AdaIN lose the relative strength of feature maps (StyleGAN2, Sec. 2)
    torch.manual_seed(0)
    G = _small(mode="adain").eval()
    layer = G.synthesis.layers[1]
    x, w = torch.randn(2, layer.weight.shape[1], 8, 8) + 0.3, torch.randn(2, 12)
    a, b = layer(x, w, "none"), layer(3.0 * x, w, "none")          # lrelu is positively homogeneous
    assert torch.allclose(a, b, atol=1e-4)


# ---------------------------------------------------------------- perceptual path length
class _Linear(torch.nn.Module):
    """G(z) = A z as an image, in float64; mapping = identity, so W = Z."""

    def __init__(self, A):
        super().__init__()
        self.A = torch.nn.Parameter(A)
        self.latent_dim = A.shape[1]

    def forward(self, z):
        return (z @ self.A.t()).view(-1, 1, 2, self.A.shape[0] // 2)

    def mapping(self, z):
        return z

    def broadcast(self, w):
        return w

    def synthesis(self, w):
        return self.forward(w)


def test_ppl_of_a_linear_generator_equals_the_closed_form():
    # guards against: a missing 1/eps^2, a distance that is not squared, lerp and slerp swapped, or t and t + eps
    # taken on different paths
    from gan_utils.metrics import perceptual_path_length

    g = torch.Generator().manual_seed(0)
    A = torch.randn(6, 5, generator=g, dtype=torch.float64)
    G = _Linear(A)
    n, seed = 64, 3
    # the metric's own draws: z (2, n, d), then t (n, 1), from one generator seeded with `seed`
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(2, n, 5, generator=gen, dtype=torch.float64)
    t = torch.rand(n, 1, generator=gen, dtype=torch.float64)
    # W (lerp): the image moves by A (z1 - z0) eps, so d / eps^2 = |A (z1 - z0)|^2 exactly
    r = perceptual_path_length(G, "w", n=n, features="pixels", seed=seed, reject_outliers=False)
    want_w = ((z[1] - z[0]) @ A.t()).square().sum(1)
    assert np.allclose(r.distances, want_w.numpy(), rtol=1e-6) and r.name == "PPL-pixels"
    # Z (slerp): d / eps^2 -> |A dz/dt|^2 with dz/dt = W (-cos((1 - t) W) z0 + cos(t W) z1) / sin W
    cos = (z[0] * z[1]).sum(1, keepdim=True) / (z[0].norm(dim=1, keepdim=True) * z[1].norm(dim=1, keepdim=True))
    om = torch.arccos(cos)
    dz = om * (-torch.cos((1 - t) * om) * z[0] + torch.cos(t * om) * z[1]) / torch.sin(om)
    want_z = (dz @ A.t()).square().sum(1)
    rz = perceptual_path_length(G, "z", n=n, features="pixels", seed=seed, reject_outliers=False)
    assert np.allclose(rz.distances, want_z.numpy(), rtol=1e-3)                 # finite difference: O(eps) error
    # the expectation in W over z0, z1 ~ N(0, I): E|A (z1 - z0)|^2 = 2 ||A||_F^2
    big = perceptual_path_length(G, "w", n=20_000, features="pixels", seed=1, reject_outliers=False, batch_size=5000)
    # the per-pair values have mean 2 ||A||_F^2 and standard deviation sqrt(8 tr((A^T A)^2)); 6 standard errors
    tol = 6 * math.sqrt(8 * float(torch.trace((A.t() @ A) @ (A.t() @ A)))) / math.sqrt(20_000)
    assert abs(big.value - 2 * float(A.square().sum())) < tol


def test_ppl_rejects_outliers_and_refuses_w_for_a_generator_without_mapping():
    from gan_utils.metrics import perceptual_path_length
    from gan_utils.models import DCGANGenerator

    G = _Linear(torch.randn(6, 5, dtype=torch.float64))
    r = perceptual_path_length(G, "w", n=1000, features="pixels")
    assert r.kept < 1000 and r.value <= r.distances.max()
    with pytest.raises(ValueError, match="no intermediate latent space"):
        perceptual_path_length(DCGANGenerator(8, 1, 32, 4), "w", n=4, features="pixels")
    assert "PPL-classifier" in str(perceptual_path_length(_small(), "z", n=4, features="classifier"))


def test_slerp_accepts_one_position_per_pair():
    g = torch.Generator().manual_seed(0)
    z0, z1, t = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g), torch.rand(4, 1, generator=g)
    out = slerp(z0, z1, t)
    for i in range(4):
        assert torch.allclose(out[i], slerp(z0[i], z1[i], float(t[i])), atol=1e-6)


# ---------------------------------------------------------------- the run: config (the CLI's tests are in test_cli.py)
def test_build_run_makes_the_style_models_from_the_options():
    from gan_utils.config import build_run

    G, D, loader, cfg = build_run({"model": "style", "dataset": "synthetic", "channels": 1, "width": 4,
                                   "mapping_layers": 3, "w_dim": 24, "style_mode": "adain", "style_mixing": 0.0,
                                   "batch_size": 8, "device": "cpu"})
    assert isinstance(G, StyleGenerator) and isinstance(D, StyleDiscriminator)
    assert G.config["mode"] == "adain" and G.config["w_dim"] == 24 and G.config["style_mixing"] == 0.0
    assert len(G.mapping.layers) == 3 and G.latent_dim == cfg.latent_dim
