"""Reference solutions to the exercises of notebooks/06_evaluation.ipynb.

Each function has the name and signature of the notebook's stub; paste it over the stub (or
``%run ../solutions/06_evaluation.py`` in the notebook) and its check passes.
tests/test_exercises_nb06.py runs every one of them through its check in CI.
"""
import numpy as np
import torch


def fd_from_features(x1, x2):
    """Exercise 1: the squared Fréchet distance of the Gaussian fits of x1 (n1, d) and x2 (n2, d).

    With A_i = (x_i - mu_i) / sqrt(n_i - 1) (centred rows), sigma_i = A_i^T A_i, so
    Tr(sigma_i) = sum of squares of A_i, and sigma1 sigma2 = A1^T (A1 A2^T) A2 has the same non-zero
    eigenvalues as (A1 A2^T)(A1 A2^T)^T (AB and BA share their non-zero eigenvalues): the squares of
    the singular values s_j of the small n1 x n2 matrix A1 A2^T. Hence Tr (sigma1 sigma2)^{1/2} = sum_j s_j.
    No d x d matrix is formed, and singular values are never negative: no clipping, no nan.
    """
    x1, x2 = np.asarray(x1, np.float64), np.asarray(x2, np.float64)
    a1 = (x1 - x1.mean(0)) / np.sqrt(len(x1) - 1)
    a2 = (x2 - x2.mean(0)) / np.sqrt(len(x2) - 1)
    diff = x1.mean(0) - x2.mean(0)
    nuclear = np.linalg.svd(a1 @ a2.T, compute_uv=False).sum()     # Tr (sigma1 sigma2)^{1/2}
    return float(diff @ diff + (a1 ** 2).sum() + (a2 ** 2).sum() - 2.0 * nuclear)


def fd_infinity(ns, values):
    """Exercise 2: least-squares fit FD_n = FD_inf + b / n; return FD_inf (the value at 1/n = 0)."""
    x = 1.0 / np.asarray(ns, dtype=np.float64)
    slope, intercept = np.polyfit(x, np.asarray(values, dtype=np.float64), 1)
    return float(intercept)


def _kth_neighbour_radius(x, k):
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))   # (N, N) pairwise distances
    return np.sort(d, axis=1)[:, k]                                 # column 0 is the point itself (0)


def knn_precision_recall(real, fake, k=3):
    """Exercise 3: improved precision and recall (Kynkäänniemi et al. 2019) with k-NN balls."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    r_real, r_fake = _kth_neighbour_radius(real, k), _kth_neighbour_radius(fake, k)
    d = np.sqrt(((fake[:, None, :] - real[None, :, :]) ** 2).sum(-1))  # (M, N): fake j to real i
    precision = np.mean((d <= r_real[None, :]).any(axis=1))          # fake j inside some real ball
    recall = np.mean((d <= r_fake[:, None]).any(axis=0))             # real i inside some fake ball
    return float(precision), float(recall)


def flag_copies(query_features, train_features, heldout_features, false_positive_rate=0.01):
    """Exercise 4 (open): flag the queries that are (near-)copies of training images.

    A query's distance to its nearest training image says little on its own: how close is "close"?
    Held-out real images (certainly not copies) answer it. Flag a query when it is closer to the
    training set than all but ``false_positive_rate`` of the held-out images are: a test whose
    false-positive rate on novel real images is chosen, about 1 % here, by construction.
    """
    from gan_utils.metrics import nearest_neighbours

    d_query = nearest_neighbours(query_features, train_features).distances[:, 0]       # (M,)
    d_held = nearest_neighbours(heldout_features, train_features).distances[:, 0]      # (H,)
    threshold = torch.quantile(d_held, false_positive_rate)
    return (d_query < threshold).numpy()
