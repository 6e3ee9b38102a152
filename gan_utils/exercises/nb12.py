"""Checks for the exercises of notebooks/12_stylegan.ipynb (references: :func:`gan_utils.models.modulated_conv2d`,
:meth:`gan_utils.models.StyleGenerator.mix`, :func:`gan_utils.metrics.perceptual_path_length`; solutions in
solutions/12_stylegan.py).

Each ``check_*`` runs the learner's function on seeded inputs and compares what it *returns* with the
reference: it prints "not attempted yet" and returns ``False`` while the stub still raises
``NotImplementedError``, raises ``AssertionError`` saying what is wrong on a wrong answer, and prints a
confirmation and returns ``True`` on a right one. The checks leave torch's global random stream alone.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models import StyleGenerator, modulated_conv2d
from ._common import _NotAttempted, _call, _fail, _not_attempted

__all__ = ["check_modulated_conv", "check_mix_styles", "check_path_length_w"]


def _tensor(name: str, out, shape) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        _fail(f"{name} should return a torch tensor, got {type(out).__name__}")
    if tuple(out.shape) != tuple(shape):
        _fail(f"{name} returned shape {tuple(out.shape)}, expected {tuple(shape)}")
    return out.detach().to(torch.float64)


# ---------------------------------------------------------------- exercise 1: modulation and demodulation
def check_modulated_conv(fn, seed: int = 0) -> bool:
    """``fn(x, weight, styles)`` for x (B, C_in, H, W), weight (C_out, C_in, 3, 3) and styles (B, C_in) must return
    StyleGAN2's modulated and demodulated 3x3 convolution with padding 1, (B, C_out, H, W)."""
    name = "modulated_conv"
    g = torch.Generator().manual_seed(seed)
    try:
        for B, c_in, c_out, size in ((2, 5, 5, 7), (3, 4, 5, 6)):
            x = torch.randn(B, c_in, size, size, generator=g, dtype=torch.float64)
            weight = torch.randn(c_out, c_in, 3, 3, generator=g, dtype=torch.float64)
            styles = torch.rand(B, c_in, generator=g, dtype=torch.float64) * 2 + 0.2   # a different style per sample
            got = _tensor(name, _call(fn, x.clone(), weight.clone(), styles.clone()), (B, c_out, size, size))
            want = modulated_conv2d(x, weight, styles, demodulate=True)
            if torch.allclose(got, want, rtol=1e-6, atol=1e-6):
                continue
            plain = modulated_conv2d(x, weight, styles, demodulate=False)
            if torch.allclose(got, plain, rtol=1e-6, atol=1e-6):
                _fail(f"{name}: that is the modulated convolution without demodulation. Divide every output channel's "
                      "weights w'_jik by sqrt(sum over i and k of w'_jik^2 + 1e-8), separately for each sample.")
            w_in = weight.unsqueeze(0) * styles[:, None, :, None, None]
            by_input = w_in / torch.sqrt(w_in.square().sum(dim=(1, 3, 4), keepdim=True) + 1e-8)
            if torch.allclose(got, torch.cat([F.conv2d(x[b:b + 1], by_input[b], padding=1) for b in range(B)]),
                              rtol=1e-6, atol=1e-6):
                _fail(f"{name}: the demodulation sums over the wrong axes: for output channel j, sum w'_jik^2 over the "
                      "input channels i and the kernel positions k (weight dims 1, 2, 3), not over the output channels.")
            if c_in == c_out:                                            # styles on the output channels
                w_out = weight.unsqueeze(0) * styles[:, :, None, None, None]
                w_out = w_out / torch.sqrt(w_out.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
                alt = torch.cat([F.conv2d(x[b:b + 1], w_out[b], padding=1) for b in range(B)])
                if torch.allclose(got, alt, rtol=1e-6, atol=1e-6):
                    _fail(f"{name}: the styles scale the *input* channels: w'_jik = s_i w_jik, "
                          "weight[None] * styles[:, None, :, None, None] (dimension 2 of the (B, C_out, C_in, k, k) "
                          "weights), not the output channels.")
            shared = weight.unsqueeze(0) * styles[:1, None, :, None, None]
            shared = shared / torch.sqrt(shared.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
            if torch.allclose(got, F.conv2d(x, shared[0], padding=1), rtol=1e-6, atol=1e-6):
                _fail(f"{name}: every sample got the first sample's style. Each sample b has its own weights "
                      "s_bi w_jik: a loop over the batch, or one grouped convolution (groups=B).")
            if torch.allclose(got, F.conv2d(x, weight, padding=1), rtol=1e-6, atol=1e-6):
                _fail(f"{name}: the styles are not applied at all (that is the plain convolution).")
            _fail(f"{name}: wrong result for B={B}, C_in={c_in}, C_out={c_out}: max error {(got - want).abs().max():.3g}. "
                  "w' = s_i w_jik (per sample), w'' = w' / sqrt(sum_ik w'^2 + 1e-8), then a 3x3 convolution, padding 1.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: matches gan_utils.models.modulated_conv2d (different styles per sample, two shapes).")
    return True


# ---------------------------------------------------------------- exercise 2: style mixing
def check_mix_styles(fn, seed: int = 0) -> bool:
    """``fn(w1, w2, crossover, num_ws)`` for w1, w2 (B, w_dim) must return ws (B, num_ws, w_dim) whose layers
    0 .. crossover - 1 hold w1 and the rest w2 (coarse styles from w1, fine ones from w2)."""
    name = "mix_styles"
    g = torch.Generator().manual_seed(seed)
    num_ws, w_dim, B = 8, 5, 3
    with torch.random.fork_rng(devices=[]):
        G = StyleGenerator(latent_dim=4, w_dim=w_dim, image_size=32, width=1, mapping_layers=1)
    assert G.num_ws == num_ws
    w1, w2 = torch.randn(B, w_dim, generator=g), torch.randn(B, w_dim, generator=g)
    try:
        for crossover in (4, 1, 7, 0, 8):
            got = _tensor(name, _call(fn, w1.clone(), w2.clone(), crossover, num_ws), (B, num_ws, w_dim))
            want = G.mix(w1, w2, crossover).to(torch.float64)
            if torch.equal(got, want):
                continue
            if 0 < crossover < num_ws and torch.equal(got, G.mix(w2, w1, crossover).to(torch.float64)):
                _fail(f"{name}: w1 and w2 are swapped: the layers *before* the crossover (the coarse ones, near the 4x4 "
                      "input) read w1.")
            for c in (crossover + 1, crossover - 1):
                if 0 <= c <= num_ws and torch.equal(got, G.mix(w1, w2, c).to(torch.float64)):
                    _fail(f"{name}: off by one at crossover={crossover}: layers 0 .. crossover - 1 read w1 (that is "
                          f"{crossover} layers), layer crossover is the first to read w2.")
            _fail(f"{name}: wrong layers for crossover={crossover}. ws[:, i] must be w1 for i < crossover, w2 otherwise.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: matches StyleGenerator.mix for crossovers 0, 1, 4, 7 and 8 of {num_ws} layers.")
    return True


# ---------------------------------------------------------------- exercise 3: path length in W
def _tiny_generator(seed: int) -> StyleGenerator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = StyleGenerator(latent_dim=6, w_dim=6, image_size=8, width=2, mapping_layers=2).double().eval()
        for layer in G.synthesis.layers:                 # noise switched on: it must be the same for both images
            layer.noise.strength.data.normal_(0, 0.3)
    return G


def check_path_length_w(fn, seed: int = 0, n: int = 16) -> bool:
    """``fn(G, z0, z1, t, eps)`` for a StyleGenerator ``G``, codes z0, z1 (B, latent_dim) and positions t (B,) must
    return (B,) values d / eps^2: d the squared pixel distance between the images of lerp(w0, w1, t) and
    lerp(w0, w1, t + eps), w = G.mapping(z), the same (constant) noise for both images. Compared with
    :func:`gan_utils.metrics.perceptual_path_length` with ``features="pixels"``."""
    from ..metrics import perceptual_path_length

    name = "path_length_w"
    eps = 1e-4
    G = _tiny_generator(seed)
    ref = perceptual_path_length(G, "w", n=n, eps=eps, features="pixels", seed=seed + 1, reject_outliers=False)
    gen = torch.Generator().manual_seed(seed + 1)                # the metric's own draws, in its order
    z = torch.randn(2, n, G.latent_dim, generator=gen, dtype=torch.float64)
    t = torch.rand(n, 1, generator=gen, dtype=torch.float64)[:, 0]
    want = torch.as_tensor(ref.distances)
    try:
        with torch.random.fork_rng(devices=[]):
            got = _tensor(name, _call(fn, G, z[0].clone(), z[1].clone(), t.clone(), eps), (n,))
        if torch.allclose(got, want, rtol=1e-5, atol=0):
            print(f"{name}: matches perceptual_path_length(G, 'w', features='pixels') on {n} pairs "
                  f"(mean {float(want.mean()):.4g}).")
            return True
        if torch.allclose(got / eps ** 2, want, rtol=1e-5, atol=0):
            _fail(f"{name}: divide by eps^2: d is a squared distance, so d / eps^2 tends to a limit as eps -> 0.")
        if torch.allclose(got / eps, want, rtol=1e-5, atol=0):
            _fail(f"{name}: divide by eps^2, not eps (d is a squared distance).")
        if torch.allclose(got.square() * eps ** 2, want, rtol=1e-4, atol=0) or torch.allclose(got.square(), want,
                                                                                               rtol=1e-4, atol=0):
            _fail(f"{name}: d is the *squared* distance: sum of the squared pixel differences, not its square root.")
        if float(got.mean()) > 10 * float(want.mean()):
            _fail(f"{name}: far too large (mean {float(got.mean()):.3g}, expected {float(want.mean()):.3g}): are the two "
                  "images made with different noise? Use noise_mode='const' (or 'none') for both.")
        _fail(f"{name}: wrong values (mean {float(got.mean()):.4g}, expected {float(want.mean()):.4g}). w0, w1 = "
              "G.mapping(z0), G.mapping(z1); lerp in W (not slerp: W is not normalised) at t and t + eps; images "
              "G.synthesis(G.broadcast(w), noise_mode='const'); squared distance per pair / eps^2.")
    except _NotAttempted:
        return _not_attempted(name)
