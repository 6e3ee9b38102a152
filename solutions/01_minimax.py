"""Reference solutions to the exercises of notebooks/01_minimax.ipynb.

Each function has the name and signature of the notebook's stub; paste it over the stub (or
``%run ../solutions/01_minimax.py`` in the notebook) and its check passes.
tests/test_exercises_nb01.py runs every one of them through its check in CI.
"""
import numpy as np


def optimal_discriminator(p_data, p_g):
    """Exercise 1: D*(x) = p_data / (p_data + p_g), and 1/2 where both densities are 0."""
    p_data = np.asarray(p_data, dtype=np.float64)
    p_g = np.asarray(p_g, dtype=np.float64)
    total = p_data + p_g
    # divide only where total > 0 (np.where alone would still evaluate 0/0 and warn)
    d = np.divide(p_data, total, out=np.full_like(total, 0.5), where=total > 0)
    return d


def jsd(p, q, dx):
    """Exercise 2: JSD(p || q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2, in nats.

    p log(p / m) is 0 where p = 0 (0 log 0 = 0); where p > 0, m >= p / 2 > 0, so no division by 0.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    m = 0.5 * (p + q)

    def kl_to_m(a):
        pos = a > 0
        terms = np.zeros_like(a)
        terms[pos] = a[pos] * np.log(a[pos] / m[pos])
        return np.sum(terms) * dx  # densities vanish at the grid's ends: sum * dx = trapezoid rule

    return 0.5 * kl_to_m(p) + 0.5 * kl_to_m(q)


def generator_logit_grads(logits):
    """Exercise 3: per-sample d(loss)/d(logit) of the two generator losses, with D = sigmoid(l).

    saturating      loss = log(1 - sigmoid(l)) = -softplus(l)   ->  d/dl = -sigmoid(l)     = -D
    non-saturating  loss = -log sigmoid(l)     =  softplus(-l)  ->  d/dl = sigmoid(l) - 1  = -(1 - D)
    """
    l = np.asarray(logits, dtype=np.float64)
    d = 1.0 / (1.0 + np.exp(-l))  # sigmoid
    return -d, d - 1.0
