"""Checks for the exercises of notebooks/06_evaluation.ipynb (references in :mod:`gan_utils.metrics`
and :mod:`gan_utils.lessons.evaluation`; solutions in solutions/06_evaluation.py).

Each ``check_*`` runs the learner's function on seeded random inputs and compares what it
*returns* with the reference: it prints "not attempted yet" and returns ``False`` while the stub
still raises ``NotImplementedError``, raises ``AssertionError`` saying what is wrong on a wrong
answer, and prints a confirmation and returns ``True`` on a right one.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import metrics
from ..lessons import evaluation
from ._common import _NotAttempted, _call, _fail, _not_attempted

__all__ = ["check_fd_from_features", "check_fd_infinity", "check_knn_precision_recall", "check_flag_copies",
           "copy_detection_case", "COPY_TARGET"]


def _to_numpy(name: str, out, what: str):
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu().numpy()
    arr = np.asarray(out)
    if np.iscomplexobj(arr):
        return arr
    try:
        return np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} should return {what}, got {type(out).__name__}") from None


def _correlated(rng, n: int, d: int, scale: float = 1.0) -> np.ndarray:
    """n samples of a random d-dimensional Gaussian with correlated coordinates and a non-zero mean."""
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    return (rng.standard_normal((n, d)) @ mix) * scale + rng.normal(0, 2, d)


# ---------------------------------------------------------------- exercise 1: FD straight from features
def _fd_cases(rng):
    """Pairs of feature sets: more samples than dimensions (d = 1 included), identical sets, and
    fewer samples than dimensions (rank-deficient covariances, as in FID from a few hundred images
    with 2048-d features), with non-zero means."""
    cases = []
    for n1, n2, d in ((300, 200, 1), (200, 300, 5), (400, 350, 32)):
        cases.append(("more samples than dimensions", _correlated(rng, n1, d), _correlated(rng, n2, d, scale=1.5)))
    x = _correlated(rng, 150, 20)
    cases.append(("identical feature sets", x, x.copy()))
    for n1, n2, d in ((40, 30, 100), (12, 15, 500)):
        cases.append((f"fewer samples than dimensions ({n1} and {n2} samples, d = {d})",
                      _correlated(rng, n1, d), _correlated(rng, n2, d, scale=1.2)))
    return cases


def _fd_ref(x1, x2, ddof=1, centre=True):
    """The reference value, and variants for the diagnoses (divided by n, not centred)."""
    def a(x):
        c = x - x.mean(0) if centre else x
        return c / np.sqrt(len(x) - ddof)
    a1, a2 = a(x1), a(x2)
    diff = x1.mean(0) - x2.mean(0)
    sv = np.linalg.svd(a1 @ a2.T, compute_uv=False)
    return diff @ diff, (a1 ** 2).sum() + (a2 ** 2).sum(), sv


def check_fd_from_features(fn, seed: int = 1) -> bool:
    """``fn(x1, x2)`` (float64 numpy arrays ``(n1, d)`` and ``(n2, d)`` of features) must return the
    squared Fréchet distance between their Gaussian fits (means, covariances with N - 1), as
    ``frechet_distance(*feature_statistics(x1), *feature_statistics(x2))``, to 1e-6 relative
    accuracy, also when n < d, without forming a d x d matrix if you follow the hint."""
    name = "fd_from_features"
    rng = np.random.default_rng(seed)
    cases = _fd_cases(rng)
    try:
        for label, x1, x2 in cases:
            try:
                with np.errstate(all="ignore"):
                    out = _call(fn, x1.copy(), x2.copy())
            except np.linalg.LinAlgError as e:
                raise AssertionError(
                    f"{name} raised LinAlgError ({e}) on the case '{label}': a nan got into a matrix. Rounding "
                    "makes the tiny eigenvalues of a (near-)singular matrix slightly negative and np.sqrt turns "
                    "them into nan: clip eigenvalues below 0 to 0 before a square root (or use singular values, "
                    "which are never negative).") from None
            got = _to_numpy(name, out, "one number")
            if got.size != 1:
                _fail(f"{name} should return one number, got an array of shape {got.shape}")
            if np.iscomplexobj(got):
                if abs(got.imag).max() > 0:
                    _fail(f"{name} returned the complex number {complex(got.ravel()[0]):.6g} ('{label}'). "
                          "scipy.linalg.sqrtm of a non-symmetric product picks up imaginary rounding noise; "
                          "the hint's singular values are real by construction.")
                got = got.real
            got = float(got.ravel()[0])
            want = metrics.frechet_distance(*metrics.feature_statistics(x1), *metrics.feature_statistics(x2))
            mean_term, trace_term, sv = _fd_ref(x1, x2)
            scale = mean_term + trace_term
            if abs(got - want) <= 1e-6 * scale + 1e-9:
                continue
            if not np.isfinite(got):
                _fail(f"{name}: got {got} ('{label}'). Rounding makes the tiny eigenvalues of a (near-)singular "
                      "matrix slightly negative and sqrt turns them into nan: clip them to 0, or use singular "
                      "values (never negative).")
            close = lambda v: abs(got - v) <= 1e-6 * scale
            if close(mean_term + trace_term - sv.sum()):
                _fail(f"{name}: the cross term needs a factor 2: ... - 2 Tr (sigma1 sigma2)^{{1/2}}.")
            if close(trace_term - 2 * sv.sum()) and mean_term > 1e-6 * scale:
                _fail(f"{name}: the mean term ||mu1 - mu2||^2 is missing.")
            if close(np.sqrt(mean_term) + trace_term - 2 * sv.sum()):
                _fail(f"{name}: ||mu1 - mu2|| must be squared: use diff @ diff, not np.linalg.norm(diff).")
            if close(mean_term + trace_term - 2 * np.sqrt(sv).sum()):
                _fail(f"{name}: the singular values of A1 A2^T are already the square roots of the eigenvalues "
                      "of sigma1 sigma2: sum them, do not take another square root.")
            m0, t0, sv0 = _fd_ref(x1, x2, ddof=0)
            if close(m0 + t0 - 2 * sv0.sum()):
                _fail(f"{name}: you divided by n; the covariance convention (np.cov, pytorch-fid) divides by n - 1.")
            mc, tc, svc = _fd_ref(x1, x2, centre=False)
            if close(mc + tc - 2 * svc.sum()):
                _fail(f"{name}: the rows must be centred (subtract each set's mean) before forming A1 and A2: "
                      "A^T A is then the covariance, not the second moment.")
            _fail(f"{name}: got {got:.8g}, expected {want:.8g} ('{label}'). Recall "
                  "d^2 = ||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr (sigma1 sigma2)^{1/2}; with "
                  "A_i = (x_i - mu_i) / sqrt(n_i - 1), Tr(sigma_i) = sum of squares of A_i and "
                  "Tr (sigma1 sigma2)^{1/2} = sum of the singular values of A1 A2^T.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: matches gan_utils.metrics.frechet_distance on {len(cases)} pairs of feature sets "
          "(d = 1, identical sets and n < d included).")
    return True


# ---------------------------------------------------------------- exercise 2: FD at n = infinity
def check_fd_infinity(fn, n_trials: int = 8, seed: int = 2) -> bool:
    """``fn(ns, values)`` (paired 1-D numpy arrays: sample sizes and the FD measured at each; an n may
    repeat) must return the extrapolated ``FD_inf`` of the least-squares fit ``FD_n = FD_inf + b / n``
    [Chong and Forsyth 2020]."""
    name = "fd_infinity"
    rng = np.random.default_rng(seed)
    try:
        for trial in range(n_trials):
            grid = np.array([500, 1000, 2000, 5000, 10000]) if trial % 2 == 0 else np.array([300, 500, 1000])
            repeats = int(rng.integers(1, 4))
            ns = np.repeat(grid, repeats).astype(np.float64)
            a, b = rng.uniform(0.5, 30.0), rng.uniform(200.0, 3000.0)
            values = a + b / ns + rng.normal(0, 0.02 * b / ns.max(), ns.size)
            out = _call(fn, ns.copy(), values.copy())
            try:
                got = float(np.asarray(out.detach().cpu() if isinstance(out, torch.Tensor) else out))
            except (TypeError, ValueError):
                raise AssertionError(f"{name} should return one number (FD_inf), got {out!r}") from None
            want, slope = evaluation.fit_inverse_n(ns, values)
            if abs(got - want) <= 1e-6 * max(1.0, abs(want)):
                continue
            if abs(got - slope) <= 1e-6 * abs(slope):
                _fail(f"{name}: that is the slope b of FD_n = FD_inf + b / n. Return the intercept FD_inf "
                      "(np.polyfit(x, y, 1) returns [slope, intercept]).")
            lin = np.polyfit(ns, values, 1)
            if abs(got - lin[1]) <= 1e-6 * max(1.0, abs(lin[1])) or abs(got - lin[0]) <= 1e-6 * max(1.0, abs(lin[0])):
                _fail(f"{name}: you fitted a straight line in n. The bias falls like 1/n: fit against x = 1 / n, "
                      "then FD_inf is the value at x = 0.")
            if np.isclose(got, values[ns == ns.max()].mean()) or np.isclose(got, values.min()):
                _fail(f"{name}: that is the value measured at the largest n, which still carries a bias b / n. "
                      "Extrapolate the fit to 1 / n = 0.")
            _fail(f"{name}: got {got:.6g}, expected {want:.6g} (the data were generated with FD_inf = {a:.4g}, "
                  f"b = {b:.4g}, plus noise). Fit FD = FD_inf + b x with x = 1 / n by least squares.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: the extrapolation matches the least-squares fit on {n_trials} synthetic bias curves.")
    return True


# ---------------------------------------------------------------- exercise 3: precision and recall
def _pr_cases(rng):
    cases = []
    for k in (3, 1, 5):
        d = int(rng.integers(2, 10))
        n, m = int(rng.integers(150, 300)), int(rng.integers(150, 300))
        real = rng.standard_normal((n, d))
        fake = rng.standard_normal((m, d)) * 0.6                      # a narrower generator: low recall
        fake[: m // 3] += 3.0                                         # and some samples off the data
        cases.append((k, real, fake))
    return cases


def check_knn_precision_recall(fn, seed: int = 3) -> bool:
    """``fn(real, fake, k)`` (float64 numpy arrays ``(N, d)`` and ``(M, d)`` of features, an int)
    must return ``(precision, recall)`` of Kynkäänniemi et al. 2019, as
    :func:`gan_utils.metrics.precision_recall` computes them."""
    name = "knn_precision_recall"
    rng = np.random.default_rng(seed)
    cases = _pr_cases(rng)
    try:
        for k, real, fake in cases:
            out = _call(fn, real.copy(), fake.copy(), k)
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                _fail(f"{name} should return a pair (precision, recall), got {type(out).__name__}")
            try:
                p, r = (float(np.asarray(o.detach().cpu() if isinstance(o, torch.Tensor) else o)) for o in out)
            except (TypeError, ValueError):
                raise AssertionError(f"{name} should return two numbers, got {out!r}") from None
            ref = metrics.precision_recall(real, fake, k=k)
            tol_p, tol_r = 1.01 / len(fake), 1.01 / len(real)           # one sample's worth of rounding
            if abs(p - ref.precision) <= tol_p and abs(r - ref.recall) <= tol_r:
                continue
            if abs(p - ref.recall) <= tol_r and abs(r - ref.precision) <= tol_p:
                _fail(f"{name}: precision and recall are swapped. Precision asks how many *generated* samples "
                      "fall inside the real manifold; recall how many *real* samples fall inside the generated one.")
            for kk in (k - 1, k + 1):
                if kk >= 1:
                    alt = metrics.precision_recall(real, fake, k=kk)
                    if abs(p - alt.precision) <= tol_p and abs(r - alt.recall) <= tol_r:
                        hint = ("the distance of a point to itself (0) is the smallest one in its own set: "
                                "the k-th nearest *other* point is the (k+1)-th smallest distance"
                                if kk == k - 1 else "the radius is the distance to the k-th nearest neighbour, not the (k+1)-th")
                        _fail(f"{name}: off by one in k (your radii are those of k = {kk}, with k = {k}): {hint}.")
            _fail(f"{name}: got precision {p:.4f}, recall {r:.4f}; expected {ref.precision:.4f}, {ref.recall:.4f} "
                  f"(k = {k}). A sample is inside a manifold when it lies within the radius of at least one "
                  "ball; each ball is centred on a sample of that set, with the radius to its k-th nearest "
                  "neighbour in the same set.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: matches gan_utils.metrics.precision_recall on {len(cases)} random feature sets (k = 3, 1, 5).")
    return True


# ---------------------------------------------------------------- exercise 4 (open): a memorisation detector
#: exercise 4's target: share of planted copies caught, share of novel real images wrongly flagged
COPY_TARGET = dict(min_recall=0.9, max_false_positive=0.05)
#: its sizes in the default mode and in smoke mode (CI): training images searched, planted copies
#: per noise level, novel and held-out real (test) images
COPY_SIZES = {"full": dict(train=10_000, copies=30, novel=300, heldout=300),
              "smoke": dict(train=2000, copies=10, novel=100, heldout=100)}
#: the planted copies: training images, exact or with Gaussian noise of these standard deviations
COPY_NOISE = (0.0, 0.03, 0.05)


def copy_detection_case(smoke: bool = False, seed: int = 0, device="cpu") -> dict:
    """Classifier features ``(N, 128)`` of: ``train`` (the first N training images, the set to search),
    ``queries`` (planted copies of training images, exact or slightly noisy, then novel test images)
    with ``is_copy`` marking the copies, and ``heldout`` (other test images, never in the queries)."""
    from ..data import load_dataset, to_float
    from ..metrics import ClassifierFeatures

    n = COPY_SIZES["smoke" if smoke else "full"]
    train = to_float(load_dataset("fashion-mnist", train=True, image_size=32).images[:n["train"]])
    test = to_float(load_dataset("fashion-mnist", train=False, image_size=32).images[:n["novel"] + n["heldout"]])
    clf = ClassifierFeatures("fashion-mnist", device=device)
    g = torch.Generator().manual_seed(seed)
    picked = torch.randperm(n["train"], generator=g)[:n["copies"] * len(COPY_NOISE)].view(len(COPY_NOISE), -1)
    copies = [evaluation.add_noise(train[idx], sigma, seed=seed + k) if sigma > 0 else train[idx]
              for k, (sigma, idx) in enumerate(zip(COPY_NOISE, picked))]
    queries = torch.cat(copies + [test[:n["novel"]]])
    is_copy = np.r_[np.ones(n["copies"] * len(COPY_NOISE), bool), np.zeros(n["novel"], bool)]
    return dict(train=clf(train), queries=clf(queries), is_copy=is_copy, heldout=clf(test[n["novel"]:]))


def check_flag_copies(fn, smoke=None, seed: int = 0) -> bool:
    """``fn(query_features, train_features, heldout_features)`` (float32 tensors ``(M, d)``, ``(N, d)``,
    ``(H, d)``) must return a boolean array ``(M,)``: True for the queries it judges to be copies of
    training images. ``heldout_features`` are real images that are *not* in the training set, to
    calibrate on. Target: among the queries (planted copies of training images, exact or with noise
    of standard deviation 0.03 or 0.05, and novel test images), at least 90 % of the copies flagged
    and at most 5 % of the novel images. The same target in smoke mode, on fewer images."""
    from .. import runtime

    name = "flag_copies"
    smoke = runtime.SMOKE if smoke is None else bool(smoke)
    g = torch.Generator().manual_seed(seed)
    try:                                    # an unsolved stub is reported before any image is featurised
        _call(fn, *(torch.randn(n, 128, generator=g) for n in (8, 40, 20)))
    except _NotAttempted:
        return _not_attempted(name)
    except Exception:                       # a real answer may dislike random features: the real case decides
        pass
    case = copy_detection_case(smoke=smoke, seed=seed)
    try:
        out = _call(fn, case["queries"].clone(), case["train"].clone(), case["heldout"].clone())
    except _NotAttempted:
        return _not_attempted(name)
    flags = _to_numpy(name, out, "a boolean array")
    m = len(case["is_copy"])
    if flags.shape != (m,):
        _fail(f"{name} returned shape {flags.shape}, expected ({m},): one flag per query.")
    if not np.isin(flags, (0, 1)).all():
        _fail(f"{name} should return booleans (True = a copy), got values such as {np.unique(flags)[:5]}.")
    flags = flags.astype(bool)
    is_copy = case["is_copy"]
    n_noise = len(COPY_NOISE)
    per_noise = flags[is_copy].reshape(n_noise, -1).mean(axis=1)
    recall, false_pos = flags[is_copy].mean(), flags[~is_copy].mean()
    detail = (f"copies caught: {recall:.0%} (exact {per_noise[0]:.0%}, noise 0.03 {per_noise[1]:.0%}, noise 0.05 "
              f"{per_noise[2]:.0%}); novel test images flagged: {false_pos:.0%}")
    if false_pos > COPY_TARGET["max_false_positive"]:
        _fail(f"{name}: {detail}. At most {COPY_TARGET['max_false_positive']:.0%} of novel images may be flagged: "
              "a real image is always *somewhat* close to some training image. Calibrate your threshold on the "
              "held-out images: how close do images that are certainly not copies come?")
    if recall < COPY_TARGET["min_recall"]:
        hint = (" You catch the exact copies only: a copy with a little noise is no longer at distance 0."
                if per_noise[0] > 0.9 and per_noise[1:].mean() < 0.5 else "")
        _fail(f"{name}: {detail}. The target is at least {COPY_TARGET['min_recall']:.0%} of the copies.{hint}")
    print(f"{name}: {detail} (targets: >= {COPY_TARGET['min_recall']:.0%} and <= "
          f"{COPY_TARGET['max_false_positive']:.0%}{'; smoke-mode sizes' if smoke else ''}).")
    return True
