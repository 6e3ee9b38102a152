"""Tests of gan_utils.metrics.kid (notebook 06). Each test names the bug it guards against.

Independent references: a naive double loop over pairs in plain Python floats, and the explicit
feature map of the cubic polynomial kernel (k(x, y) = <phi(x), phi(y)>, so the within-set sum over
i != j is ||sum_i phi(x_i)||^2 - sum_i ||phi(x_i)||^2), neither of which shares code with
gan_utils.metrics.kid.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from gan_utils.metrics import KIDResult, feature_statistics, frechet_distance, kid, mmd2_unbiased, polynomial_kernel


def _naive_mmd2_unbiased(x, y):
    """The U-statistic written out pair by pair, float64 Python arithmetic."""
    d = len(x[0])

    def k(a, b):
        return (sum(ai * bi for ai, bi in zip(a, b)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = math.fsum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = math.fsum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = math.fsum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def _phi(x):
    """Explicit feature map of (a . b / d + 1)^3: sqrt(multinomial weight) * monomial, all degrees <= 3."""
    n, d = x.shape
    s = x / np.sqrt(d)
    cols = []
    for degree in range(4):
        for combo in itertools.combinations_with_replacement(range(d), degree):
            counts = np.bincount(np.array(combo, dtype=int), minlength=d) if combo else np.zeros(d, int)
            # (1 + u)^3 = sum over (k0, k_1..k_d) with k0 + sum k = 3 of 3! / (k0! prod k_i!) prod u_i^{k_i}
            coef = math.factorial(3) / (math.factorial(3 - degree) * np.prod([math.factorial(c) for c in counts]))
            cols.append(np.sqrt(coef) * np.prod(s[:, list(combo)], axis=1) if combo else np.full(n, np.sqrt(coef)))
    return np.stack(cols, axis=1)


def _mmd2_from_feature_map(x, y):
    px, py = _phi(x), _phi(y)
    m, n = len(x), len(y)
    sx, sy = px.sum(0), py.sum(0)
    xx = (sx @ sx - (px * px).sum()) / (m * (m - 1))
    yy = (sy @ sy - (py * py).sum()) / (n * (n - 1))
    return xx + yy - 2 * (sx @ sy) / (m * n)


def test_unbiased_estimator_matches_a_naive_double_loop():
    # guards against: the diagonal k(x_i, x_i) left in the within-set sums, or a wrong normaliser
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 5))
    y = rng.standard_normal((9, 5)) * 1.3 + 0.4
    want = _naive_mmd2_unbiased(x.tolist(), y.tolist())
    assert mmd2_unbiased(x, y) == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert mmd2_unbiased(torch.tensor(x, dtype=torch.float32), y) == pytest.approx(want, rel=1e-6)


def test_matches_the_explicit_polynomial_feature_map():
    # guards against: a kernel with the wrong scale (x . y instead of x . y / d) or degree
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 4)) * 2
    y = rng.standard_normal((250, 4)) + 0.5
    assert mmd2_unbiased(x, y) == pytest.approx(_mmd2_from_feature_map(x, y), rel=1e-9)
    k = polynomial_kernel(torch.tensor(x[:3]), torch.tensor(y[:2])).numpy()
    assert k == pytest.approx(_phi(x[:3]) @ _phi(y[:2]).T, rel=1e-12)


def test_two_samples_of_one_distribution_average_to_zero_even_at_tiny_n():
    # guards against: a biased estimator (what makes FD unusable at small n) sold as KID
    rng = np.random.default_rng(2)
    kids, biased, fds = [], [], []
    for _ in range(400):
        x, y = rng.standard_normal((10, 3)), rng.standard_normal((10, 3))
        kids.append(mmd2_unbiased(x, y))
        kxx, kyy, kxy = (polynomial_kernel(torch.tensor(a), torch.tensor(b)).numpy() for a, b in ((x, x), (y, y), (x, y)))
        biased.append(kxx.mean() + kyy.mean() - 2 * kxy.mean())              # the V-statistic: diagonal kept
        fds.append(frechet_distance(*feature_statistics(x), *feature_statistics(y)))
    kids = np.array(kids)
    se = kids.std(ddof=1) / np.sqrt(len(kids))
    assert abs(kids.mean()) < 3 * se                       # unbiased: scattered around 0 ...
    assert (kids < 0).any()                                # ... hence sometimes negative
    assert np.mean(biased) > 10 * se and np.mean(fds) > 0.5  # the biased estimators sit clearly above 0


def test_kid_averages_subsets_and_reports_their_spread():
    # guards against: a KID that ignores subset_size/seed, or a std that is not over subsets
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((400, 8)), rng.standard_normal((300, 8)) + 0.3
    whole = kid(x, y, subsets=1, subset_size=10_000)
    assert isinstance(whole, KIDResult) and whole.subset_size == 300 and whole.std == 0.0
    sub_x = x[torch.randperm(400, generator=torch.Generator().manual_seed(0))[:300].numpy()]
    assert whole.value == pytest.approx(mmd2_unbiased(sub_x, y), rel=1e-12)   # y whole, x a seeded subset
    r = kid(x, y, subsets=20, subset_size=50, seed=5)
    assert r.subsets == 20 and r.subset_size == 50 and r.std > 0 and r.n_real == 400 and r.n_fake == 300
    assert kid(x, y, subsets=20, subset_size=50, seed=5).value == r.value         # seeded
    assert kid(x, y, subsets=20, subset_size=50, seed=6).value != r.value
    assert abs(r.value - whole.value) < 4 * r.std / np.sqrt(20) + 1e-12          # same expectation
    assert "KID-classifier" in str(kid(x, y, subsets=2, subset_size=20, name="KID-classifier"))


def test_a_shifted_sample_scores_higher_than_a_sample_of_the_same_distribution():
    # guards against: a sign error (-2 k_xy on the wrong side)
    rng = np.random.default_rng(4)
    ref = rng.standard_normal((500, 16))
    same = kid(ref, rng.standard_normal((500, 16)), subsets=10, subset_size=200)
    far = kid(ref, rng.standard_normal((500, 16)) + 0.5, subsets=10, subset_size=200)
    assert far.value > 0 and far.value > same.value + 5 * far.std


def test_bad_inputs_raise_one_clear_error():
    # guards against: a silent broadcast of mismatched features, or a 0/0 on one sample
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match="dimensions differ"):
        mmd2_unbiased(rng.standard_normal((5, 3)), rng.standard_normal((5, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        kid(rng.standard_normal((1, 3)), rng.standard_normal((5, 3)))
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        kid(rng.standard_normal(5), rng.standard_normal((5, 1)))
