"""Reference solutions to the exercises of notebooks/10_modern_recipes.ipynb.

Each function has the name and signature of the notebook's stub; paste it over the stub (or
``%run ../solutions/10_modern_recipes.py`` in the notebook) and its check passes.
tests/test_exercises_nb10.py runs every one of them through its check in CI.
"""
import numpy as np
import torch
import torch.nn.functional as F


def r1_penalty(D, real, gamma):
    """Exercise 1: gamma / 2 * E_x ||grad_x D(x)||^2 on the reals (Mescheder et al. 2018)."""
    x = real.detach().requires_grad_(True)                       # a fresh leaf: the gradient w.r.t. the images
    (grads,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)   # (B, C, H, W); create_graph: it must train D
    return gamma / 2 * grads.flatten(1).pow(2).sum(1).mean()    # squared norm per sample, mean over the batch


def hinge_losses(real_scores, fake_scores):
    """Exercise 2: the hinge loss of D and the generator loss that goes with it (Miyato et al. 2018, eqs. 16-17)."""
    d_loss = F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()   # reals above +1, fakes below -1
    g_loss = -fake_scores.mean()                                                 # no margin for G
    return d_loss, g_loss


def dirac_r1_eigenvalues(gamma):
    """Exercise 3: the field near (0, 0) is v ~ J (theta, psi) with J = [[0, -a], [a, -gamma]], a = f'(0) = 1/2:
    R1 adds -gamma/2 psi^2 to D's objective, i.e. -gamma psi to v_psi. Its characteristic polynomial is
    l^2 + gamma l + a^2, so l = -gamma/2 +- sqrt(gamma^2/4 - a^2)."""
    a = 0.5
    root = np.sqrt(complex(gamma ** 2 / 4 - a ** 2))
    return [-gamma / 2 + root, -gamma / 2 - root]


def r1_toy_settings():
    """Exercise 4: gamma = 10 damps the orbit around the data within the run; gamma = 1 is too weak for this
    1-D GAN (its late W1 stays near the unregularised one, R1_TOY's baseline)."""
    return {"r1_gamma": 10.0}
