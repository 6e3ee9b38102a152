"""Reference solutions to the exercises of notebooks/07_wgan.ipynb.

Each function has the name and signature of the notebook's stub; paste it over the stub (or
``%run ../solutions/07_wgan.py`` in the notebook) and its check passes.
tests/test_exercises_nb07.py runs every one of them through its check in CI.
"""
import numpy as np
import torch


def w1_from_samples(x, y):
    """Exercise 1: W1 between two 1-D empirical distributions of the same size n.

    In 1-D the optimal transport plan is monotone: the i-th smallest x moves to the i-th smallest y
    (any crossing pair can be uncrossed without increasing the cost). Each sample carries mass 1/n.
    """
    x = np.sort(np.asarray(x, dtype=np.float64))
    y = np.sort(np.asarray(y, dtype=np.float64))
    if x.shape != y.shape:
        raise ValueError("this formula needs two samples of the same size")
    return float(np.mean(np.abs(x - y)))


def spectral_norm(W, n_iters=100):
    """Exercise 2: the largest singular value of W (a conv kernel is reshaped to (out, -1)) by power
    iteration on W^T W, as torch.nn.utils.parametrizations.spectral_norm does (one step per
    forward pass there, with the vector kept between passes)."""
    mat = W.detach().reshape(W.shape[0], -1).double()    # a copy: W itself is left alone
    g = torch.Generator().manual_seed(0)
    v = torch.randn(mat.shape[1], generator=g, dtype=torch.float64)
    v = v / v.norm()
    for _ in range(n_iters):
        v = mat.T @ (mat @ v)                             # W^T W v
        v = v / v.norm()
    return float((mat @ v).norm())                        # sigma = ||W v|| for the top right-singular vector v


def critic_step_gp(critic, optimizer, real, fake, lam=10.0):
    """Exercise 3: one WGAN-GP critic update; returns the W1 estimate before the step."""
    real, fake = real.detach(), fake.detach()
    real_scores, fake_scores = critic(real), critic(fake)
    w_estimate = real_scores.mean() - fake_scores.mean()                    # E[f(x)] - E[f(G(z))]
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)))              # one eps per sample: (B, 1, 1, 1)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grads,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)  # keep the graph: double backward
    penalty = ((grads.flatten(1).norm(2, dim=1) - 1) ** 2).mean()           # per-sample norm over (C, H, W)
    loss = -w_estimate + lam * penalty                                      # the critic maximises the estimate
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return w_estimate.item()
