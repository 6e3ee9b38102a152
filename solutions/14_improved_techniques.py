"""Reference solutions to the exercises of notebooks/14_improved_techniques.ipynb.

Each function has the name and signature of the notebook's stub; paste it over the stub (or
``%run ../solutions/14_improved_techniques.py`` in the notebook) and its check passes.
tests/test_exercises_nb14.py runs every one of them through its check in CI.
"""
import torch
import torch.nn.functional as F


def feature_matching(real_features, fake_features):
    """Exercise 1: ||E f(x) - E f(G(z))||_2^2 over a batch (Salimans et al. 2016, section 3.1)."""
    mu_real = real_features.detach().mean(0)          # E_x f(x): the data side carries no gradient
    mu_fake = fake_features.mean(0)                   # E_z f(G(z))
    return (mu_real - mu_fake).pow(2).sum()           # squared L2 norm: summed over the features


def minibatch_features(M):
    """Exercise 2: o[i, b] = sum_j exp(-||M_{i,b} - M_{j,b}||_1), j over the whole batch (section 3.2)."""
    l1 = (M[:, None] - M[None]).abs().sum(-1)          # (n, n, B): L1 distance of rows b of M_i and M_j
    return torch.exp(-l1).sum(1)                      # (n, B): summed over j, i included


def unlabelled_loss(real_logits, fake_logits):
    """Exercise 3: -E log D(x) - E log(1 - D(G(z))) with D(x) = Z / (Z + 1), log Z = logsumexp of the K logits
    (section 5): log D = lse - softplus(lse), log(1 - D) = -softplus(lse)."""
    lse_real = torch.logsumexp(real_logits, dim=1)
    lse_fake = torch.logsumexp(fake_logits, dim=1)
    return -(lse_real - F.softplus(lse_real)).mean() + F.softplus(lse_fake).mean()
