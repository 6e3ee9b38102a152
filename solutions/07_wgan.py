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


def critic_objective(f, real, fake, lam=300.0):
    """Exercise 4 (open): a critic whose estimate reads as W1.

    The two-sided penalty (||grad f|| - 1)^2 also *rewards* slopes above 1 with a larger estimate,
    and settles at k = 1 + d / (2 lambda) (section 3). A one-sided ("Lipschitz") penalty,
    max(0, ||grad f|| - 1)^2, only punishes slopes above 1, the constraint the duality actually
    needs ([Gulrajani2017] discuss it in section 4 and keep the two-sided one); with lambda = 300,
    applied at the interpolates *and* at the samples themselves (where the estimate is read), the
    critic stays close to slope 1 and its estimate close to W1.
    """
    eps = torch.rand(real.shape[0], 1, device=real.device)                      # one eps per sample
    x_hat = torch.cat([eps * real + (1 - eps) * fake, real, fake]).detach().requires_grad_(True)
    (grads,) = torch.autograd.grad(f(x_hat).sum(), x_hat, create_graph=True)    # (3B, 1)
    excess = torch.relu(grads.flatten(1).norm(2, dim=1) - 1.0)                  # only slopes above 1 cost
    return f(fake).mean() - f(real).mean() + lam * (excess ** 2).mean()         # -(E f(x) - E f(G(z))) + penalty
