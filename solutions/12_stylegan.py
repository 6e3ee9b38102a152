"""Reference solutions to the exercises of notebooks/12_stylegan.ipynb.

Each function has the name and signature of the notebook's stub; paste it over the stub (or
``%load ../solutions/12_stylegan.py`` in the notebook) and its check passes.
tests/test_exercises_nb12.py runs every one of them through its check in CI.
"""
import torch
import torch.nn.functional as F


def modulated_conv(x, weight, styles):
    """Exercise 1: StyleGAN2's modulated and demodulated 3x3 convolution (padding 1), one sample at a time.

    x (B, C_in, H, W), weight (C_out, C_in, 3, 3), styles (B, C_in) -> (B, C_out, H, W).
    """
    out = []
    for b in range(x.shape[0]):
        w = weight * styles[b][None, :, None, None]                                  # w'_jik = s_i w_jik
        w = w / torch.sqrt(w.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8)      # per output channel j
        out.append(F.conv2d(x[b:b + 1], w, padding=1))
    return torch.cat(out)


def mix_styles(w1, w2, crossover, num_ws):
    """Exercise 2: one w per layer, w1 for layers 0 .. crossover - 1, w2 from layer crossover on."""
    layers = torch.arange(num_ws)[None, :, None]                                     # (1, L, 1)
    return torch.where(layers < crossover, w1[:, None, :], w2[:, None, :])           # (B, L, w_dim)


def path_length_w(G, z0, z1, t, eps):
    """Exercise 3: d / eps^2 per pair, d the squared pixel distance between the images of lerp(w0, w1, t) and
    lerp(w0, w1, t + eps) in W, the same constant noise for both images."""
    with torch.no_grad():
        w0, w1 = G.mapping(z0), G.mapping(z1)
        t = t[:, None]
        wa, wb = w0 + t * (w1 - w0), w0 + (t + eps) * (w1 - w0)
        xa = G.synthesis(G.broadcast(wa), noise_mode="const")
        xb = G.synthesis(G.broadcast(wb), noise_mode="const")
    return (xa - xb).square().flatten(1).sum(1) / eps ** 2
