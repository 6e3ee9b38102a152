"""Reference solutions to the exercises of notebooks/02_toy_gans.ipynb.

Each function has the name and signature of the notebook's stub; paste it over the stub (or
``%run ../solutions/02_toy_gans.py`` in the notebook) and its check passes.
tests/test_exercises_nb02.py runs every one of them through its check in CI.
"""
import math

import numpy as np
import torch


def kde(samples, x, bandwidth):
    """Exercise 1: Gaussian kernel density estimate p_hat(x) = 1/n sum_i N(x; x_i, h^2).

    One kernel per sample, each a normal density of standard deviation h (so each integrates to 1),
    averaged over the n samples (so the estimate integrates to 1).
    """
    s = np.asarray(samples, dtype=np.float64).reshape(-1)
    x = np.asarray(x, dtype=np.float64)
    h = float(bandwidth)
    u = (x[:, None] - s[None, :]) / h                           # (len(x), n) standardised distances
    return np.exp(-0.5 * u ** 2).sum(axis=1) / (s.size * h * math.sqrt(2 * math.pi))


def mode_coverage(samples, centers, std):
    """Exercise 2: (modes covered, high-quality fraction) by the rule of gan_utils.metrics.mode_coverage.

    High quality: within 3 std of the nearest centre. Covered: a mode holding at least
    max(1, 0.8 % of the high-quality samples).
    """
    x = np.asarray(samples, dtype=np.float64)
    c = np.asarray(centers, dtype=np.float64)
    d = np.sqrt(((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=-1))   # (N, K) distances
    nearest, dmin = d.argmin(axis=1), d.min(axis=1)
    hq = dmin <= 3 * std
    counts = np.bincount(nearest[hq], minlength=len(c))
    n_hq = int(hq.sum())
    covered = int((counts >= max(1, 0.008 * n_hq)).sum()) if n_hq else 0
    return covered, n_hq / len(x)


def critic_field(D, lim, res):
    """Exercise 3: D on a res x res grid over [-lim, lim]^2, Z[i, j] = D(x=xs[j], y=xs[i]).

    np.meshgrid's default indexing='xy' puts x along the columns and y along the rows, the layout
    contourf(xs, xs, Z) and imshow(Z, origin='lower') expect.
    """
    xs = np.linspace(-lim, lim, res)
    gx, gy = np.meshgrid(xs, xs)                                     # gx[i, j] = xs[j], gy[i, j] = xs[i]
    pts = torch.tensor(np.stack([gx.ravel(), gy.ravel()], axis=1), dtype=torch.float32)  # (res*res, 2)
    with torch.no_grad():
        return D(pts).numpy().reshape(res, res)
