"""The exercise checks of notebook 06 accept the reference solutions, report unsolved stubs
without failing, and reject wrong answers (so a check that passes everything cannot slip in);
plus the helpers of gan_utils.lessons.evaluation that the notebook's sanity checks rely on."""
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_utils.lessons import evaluation
from gan_utils.exercises import nb06
from gan_utils.metrics import nearest_neighbours
from exercise_harness import load_solutions, standard_check_tests

ROOT = Path(__file__).resolve().parents[1]


SOL = load_solutions("06_evaluation.py")
CHECKS = {
    "fd_from_features": nb06.check_fd_from_features,
    "fd_infinity": nb06.check_fd_infinity,
    "knn_precision_recall": nb06.check_knn_precision_recall,
    "flag_copies": nb06.check_flag_copies,
}


# the reference solutions pass; unsolved stubs report "not attempted yet" (tests/exercise_harness.py)
test_reference_solution_passes_its_check, test_unsolved_stub_reports_not_attempted_without_failing = \
    standard_check_tests(CHECKS, SOL)


def _stats(x):
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False))


def _fd_sqrtm(x1, x2, real_part=True):
    # pytorch-fid's way: scipy's sqrtm of the non-symmetric product sigma1 sigma2
    from scipy import linalg

    (mu1, s1), (mu2, s2) = _stats(x1), _stats(x2)
    covmean = linalg.sqrtm(s1 @ s2)
    d = mu1 - mu2
    tr = np.trace(covmean)
    return d @ d + np.trace(s1) + np.trace(s2) - 2 * (tr.real if real_part else tr)


def test_statistics_route_with_sqrtm_real_part_is_accepted():
    # an answer that forms the covariances and takes sqrtm's real part (pytorch-fid) is accurate enough
    assert nb06.check_fd_from_features(lambda x1, x2: float(_fd_sqrtm(x1, x2))) is True


# ---------------------------------------------------------------- wrong answers must fail
def _fd_complex(x1, x2):
    return _fd_sqrtm(x1, x2, real_part=False)


def _fd_nan(x1, x2):
    # symmetric form through the covariances, without clipping rounding-negative eigenvalues
    (mu1, s1), (mu2, s2) = _stats(x1), _stats(x2)
    w, u = np.linalg.eigh(s1)
    r = (u * np.sqrt(w)) @ u.T
    lam = np.linalg.eigvalsh(r @ s2 @ r)
    d = mu1 - mu2
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(lam).sum())


def _fd_nan_returned(x1, x2):
    # the square root of sigma1 clipped, but not the eigenvalues of the product
    (mu1, s1), (mu2, s2) = _stats(x1), _stats(x2)
    w, u = np.linalg.eigh(s1)
    r = (u * np.sqrt(np.clip(w, 0, None))) @ u.T
    lam = np.linalg.eigvalsh(r @ s2 @ r)
    d = mu1 - mu2
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(lam).sum())


def _parts(x1, x2, ddof=1, centre=True):
    def a(x):
        return (x - x.mean(0) if centre else x) / np.sqrt(len(x) - ddof)
    a1, a2 = a(x1), a(x2)
    d = x1.mean(0) - x2.mean(0)
    return d @ d, (a1 ** 2).sum() + (a2 ** 2).sum(), np.linalg.svd(a1 @ a2.T, compute_uv=False)


def _fd_no_factor_2(x1, x2):
    m, t, sv = _parts(x1, x2)
    return m + t - sv.sum()


def _fd_no_mean(x1, x2):
    m, t, sv = _parts(x1, x2)
    return t - 2 * sv.sum()


def _fd_norm_not_squared(x1, x2):
    m, t, sv = _parts(x1, x2)
    return np.sqrt(m) + t - 2 * sv.sum()


def _fd_sqrt_of_singular_values(x1, x2):
    m, t, sv = _parts(x1, x2)
    return m + t - 2 * np.sqrt(sv).sum()


def _fd_divided_by_n(x1, x2):
    m, t, sv = _parts(x1, x2, ddof=0)
    return m + t - 2 * sv.sum()


def _fd_not_centred(x1, x2):
    m, t, sv = _parts(x1, x2, centre=False)
    return m + t - 2 * sv.sum()


def _fd_elementwise_sqrt(x1, x2):
    (mu1, s1), (mu2, s2) = _stats(x1), _stats(x2)
    d = mu1 - mu2
    return d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(np.sqrt(np.abs(s1 @ s2)))


def _inf_slope(ns, values):
    return np.polyfit(1.0 / np.asarray(ns), values, 1)[0]


def _inf_linear_in_n(ns, values):
    return np.polyfit(ns, values, 1)[1]


def _inf_largest_n(ns, values):
    ns, values = np.asarray(ns), np.asarray(values)
    return values[ns == ns.max()].mean()


def _pr_swapped(real, fake, k):
    p, r = SOL.knn_precision_recall(real, fake, k)
    return r, p


def _pr_self_as_neighbour(real, fake, k):
    # radius = k-th smallest distance *including* the point itself (0): really the (k-1)-th neighbour
    return SOL.knn_precision_recall(real, fake, k - 1) if k > 1 else (0.0, 0.0)


def _pr_one_too_far(real, fake, k):
    return SOL.knn_precision_recall(real, fake, k + 1)


def _pr_nearest_only(real, fake, k):
    d = np.sqrt(((fake[:, None] - real[None]) ** 2).sum(-1))
    return float((d.min(1) < 1.0).mean()), float((d.min(0) < 1.0).mean())


def _copies_exact_only(q, train, held):
    return nearest_neighbours(q, train).distances[:, 0].numpy() < 1e-6


def _copies_absolute_threshold(q, train, held):
    return nearest_neighbours(q, train).distances[:, 0].numpy() < 3.0      # a guess, not calibrated


def _copies_flag_everything(q, train, held):
    return np.ones(len(q), dtype=bool)


def _copies_one_per_training_image(q, train, held):
    return np.zeros(len(train), dtype=bool)


WRONG = [
    ("flag_copies", _copies_exact_only, "exact copies only"),
    ("flag_copies", _copies_absolute_threshold, "Calibrate"),
    ("flag_copies", _copies_flag_everything, "Calibrate"),
    ("flag_copies", _copies_one_per_training_image, "one flag per query"),
    ("fd_from_features", _fd_complex, "complex"),
    ("fd_from_features", _fd_nan, "clip"),
    ("fd_from_features", _fd_nan_returned, "clip"),
    ("fd_from_features", _fd_no_factor_2, "factor 2"),
    ("fd_from_features", _fd_no_mean, "mean term"),
    ("fd_from_features", _fd_norm_not_squared, "squared"),
    ("fd_from_features", _fd_sqrt_of_singular_values, "another square root"),
    ("fd_from_features", _fd_divided_by_n, "n - 1"),
    ("fd_from_features", _fd_not_centred, "centred"),
    ("fd_from_features", _fd_elementwise_sqrt, "singular values"),
    ("fd_infinity", _inf_slope, "slope"),
    ("fd_infinity", _inf_linear_in_n, "1 / n"),
    ("fd_infinity", _inf_largest_n, "largest n"),
    ("knn_precision_recall", _pr_swapped, "swapped"),
    ("knn_precision_recall", _pr_self_as_neighbour, "itself"),
    ("knn_precision_recall", _pr_one_too_far, "off by one"),
    ("knn_precision_recall", _pr_nearest_only, "expected"),
]


@pytest.mark.parametrize("name, wrong, hint", WRONG, ids=[f"{n}-{w.__name__}" for n, w, _ in WRONG])
def test_wrong_answer_fails_with_a_helpful_message(name, wrong, hint):
    # guards against: a check that accepts anything (the learner would "pass" a wrong answer)
    with pytest.raises(AssertionError) as info:
        CHECKS[name](wrong)
    assert hint in str(info.value), f"message should mention {hint!r}: {info.value}"


# ---------------------------------------------------------------- gan_utils.lessons.evaluation
def test_blur_keeps_brightness_and_zero_sigma_is_identity():
    # guards against: a kernel that does not sum to 1 (the ladder would measure a brightness change)
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    assert evaluation.gaussian_blur(x, 0.0) is x
    y = evaluation.gaussian_blur(x, 1.5)
    assert y.shape == x.shape
    assert torch.allclose(y.mean(), x.mean(), atol=0.02)
    assert y.std() < x.std()                                  # smoother
    c = torch.ones(2, 3, 8, 8) * 0.3                          # constant images (3 channels) stay constant
    assert torch.allclose(evaluation.gaussian_blur(c, 2.0), c, atol=1e-6)


def test_noise_is_seeded_and_clamped():
    x = torch.zeros(2, 1, 8, 8)
    a, b = evaluation.add_noise(x, 5.0, seed=3), evaluation.add_noise(x, 5.0, seed=3)
    assert torch.equal(a, b) and a.min() >= -1 and a.max() <= 1
    assert not torch.equal(a, evaluation.add_noise(x, 5.0, seed=4))


def test_fit_inverse_n_recovers_a_known_curve():
    ns = np.array([500, 1000, 2000, 5000, 10000] * 2)
    fd_inf, b = evaluation.fit_inverse_n(ns, 3.0 + 700.0 / ns)
    assert fd_inf == pytest.approx(3.0) and b == pytest.approx(700.0)
    with pytest.raises(ValueError):
        evaluation.fit_inverse_n([1000, 1000], [1.0, 2.0])     # one n only: no slope


def test_fd_versus_n_pool_and_fresh_samples():
    rng = np.random.default_rng(0)
    feats = torch.from_numpy(rng.standard_normal((400, 4)))
    mu, sigma = np.zeros(4), np.eye(4)
    out = evaluation.fd_versus_n(feats, mu, sigma, [50, 400], repeats=2, progress=False)
    assert set(out) == {50, 400} and len(out[50]) == 2
    assert out[400][0] == pytest.approx(out[400][1], rel=1e-9)  # the whole pool: same up to rounding
    assert np.mean(out[50]) > out[400][0]                     # the small-n estimate is biased upwards
    seeds = []
    fresh = evaluation.fd_versus_n(lambda n, s: seeds.append(s) or torch.randn(n, 4, generator=torch.Generator().manual_seed(s)),
                                   mu, sigma, [100], repeats=3, progress=False)
    assert len(set(seeds)) == 3 and len(set(fresh[100])) == 3  # a fresh sample each time
    with pytest.raises(ValueError, match="pool size"):
        evaluation.fd_versus_n(feats, mu, sigma, [500], progress=False)


def test_sample_features_is_seeded_and_restores_train_mode():
    G = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.BatchNorm1d(5)).train()
    G.latent_dim = 3
    before = {k: v.clone() for k, v in G.state_dict().items()}
    f1 = evaluation.sample_features(G, 7, lambda x: x * 2, seed=1, batch_size=3)
    f2 = evaluation.sample_features(G, 7, lambda x: x * 2, seed=1, batch_size=7)
    assert f1.shape == (7, 5) and torch.allclose(f1, f2) and G.training
    for k, v in G.state_dict().items():                       # BN running statistics untouched
        assert torch.equal(v, before[k])


def test_class_subset_only_has_the_classes_and_respects_exclude():
    labels = torch.arange(100) % 10
    images = torch.arange(100).view(100, 1, 1, 1)
    out = evaluation.class_subset(images, labels, [1, 5], 15, exclude=torch.arange(10))
    idx = out.view(-1)
    assert len(idx) == 15 and set((idx % 10).tolist()) <= {1, 5} and (idx >= 10).all()
    with pytest.raises(ValueError, match="available"):
        evaluation.class_subset(images, labels, [1], 11)


def test_dcgan_settings_match_notebook_04():
    # guards against: notebook 06 training the fallback DCGAN with other settings than notebook 04, whose
    # train(..., resume=True) would then refuse the checkpoint (or a different model would be evaluated)
    import re

    import nbformat

    def params(name):
        path = ROOT / "notebooks" / name
        if not path.exists():
            pytest.skip(f"{name} not there yet")
        cell = next(c for c in nbformat.read(path, as_version=4).cells
                    if c.cell_type == "code" and c.source.startswith("# parameters"))
        return {m.group(1): m.group(2).strip() for m in
                re.finditer(r"^(WIDTH|BATCH|STEPS|SAMPLE_EVERY) = ([^#\n]+)", cell.source, flags=re.M)}

    ours = params("06_evaluation.ipynb")
    assert set(ours) == {"WIDTH", "BATCH", "STEPS", "SAMPLE_EVERY"}
    assert ours == params("04_dcgan.ipynb")


def test_kid_versus_n_measures_the_very_samples_that_fd_versus_n_measures():
    # guards against: notebook 06 comparing FD and KID on different draws (the comparison of their
    # small-n behaviour would then mix the metrics' bias with sampling noise)
    from gan_utils.metrics import mmd2_unbiased

    rng = np.random.default_rng(0)
    calls = {"fd": [], "kid": []}

    def source(key):
        def draw(n, seed):
            calls[key].append((n, seed))
            return torch.as_tensor(np.random.default_rng(seed).standard_normal((n, 4)))
        return draw

    ref = rng.standard_normal((50, 4))
    mu, sigma = ref.mean(0), np.cov(ref, rowvar=False)
    evaluation.fd_versus_n(source("fd"), mu, sigma, [10, 20], repeats=2, seed=3, progress=False)
    kids = evaluation.kid_versus_n(source("kid"), ref, [10, 20], repeats=2, seed=3, progress=False)
    assert calls["fd"] == calls["kid"] and len(calls["kid"]) == 4
    pool = torch.as_tensor(rng.standard_normal((40, 4)))
    got = evaluation.kid_versus_n(pool, ref, [15], repeats=2, seed=7, progress=False)[15]
    g = torch.Generator().manual_seed(7)
    want = [mmd2_unbiased(ref, pool[torch.randperm(40, generator=g)[:15]]) for _ in range(2)]
    assert np.allclose(got, want, rtol=1e-12) and kids[10][0] != kids[10][1]
