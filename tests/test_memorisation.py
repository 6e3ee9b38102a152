"""Tests of gan_utils.metrics.memorisation (notebook 06; reusable in 08). Each test names the bug it
guards against."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_utils.data import load_dataset, to_float
from gan_utils.metrics import ClassifierFeatures, distance_ratio, nearest_neighbours


@pytest.fixture(scope="module")
def fmnist_features():
    train = load_dataset("fashion-mnist", train=True, image_size=32)
    test = load_dataset("fashion-mnist", train=False, image_size=32)
    clf = ClassifierFeatures("fashion-mnist", device="cpu")
    return clf, to_float(train.images[:3000]), clf(to_float(train.images[:3000])), clf(to_float(test.images[:300]))


def test_a_copied_training_image_is_its_own_nearest_neighbour_at_distance_zero(fmnist_features):
    # guards against: a memorisation check that cannot see the one thing it is for
    clf, train_images, train_feats, _ = fmnist_features
    picked = torch.tensor([7, 123, 2999, 1500])
    copies = clf(train_images[picked].clone())                       # "generated" samples that are copies
    nn_ = nearest_neighbours(copies, train_feats, k=3, block=2)
    assert torch.equal(nn_.indices[:, 0], picked)
    assert nn_.distances[:, 0].max() < 1e-5                         # ~0: rounding only
    assert (nn_.distances[:, 1] > 1e-3).all()                        # the next one is a different image


def test_matches_a_brute_force_search_across_block_boundaries():
    # guards against: an off-by-one at block edges, or distances that are squared or unsorted
    rng = np.random.default_rng(0)
    q, r = rng.standard_normal((37, 6)), rng.standard_normal((101, 6))
    got = nearest_neighbours(q, r, k=4, block=8)
    d = np.sqrt(((q[:, None, :] - r[None, :, :]) ** 2).sum(-1))
    want_idx = np.argsort(d, axis=1)[:, :4]
    assert np.array_equal(got.indices.numpy(), want_idx)
    assert np.allclose(got.distances.numpy(), np.take_along_axis(d, want_idx, 1), rtol=1e-10, atol=1e-10)


def test_distance_ratio_is_zero_for_copies_and_about_one_for_held_out_real_images(fmnist_features):
    # guards against: a ratio whose scale comes from the queries themselves (copies would look normal)
    clf, _, train_feats, test_feats = fmnist_features
    held_a, held_b = test_feats[:150], test_feats[150:]
    ratio_copies = distance_ratio(train_feats[:20], train_feats, held_a)
    ratio_real = distance_ratio(held_b, train_feats, held_a)
    assert ratio_copies.max() < 1e-5
    assert 0.7 < np.median(ratio_real) < 1.4


def test_bad_inputs_raise_one_clear_error():
    # guards against: silent broadcasting of mismatched features, or a zero scale from a leaked copy
    rng = np.random.default_rng(1)
    r = rng.standard_normal((10, 3))
    with pytest.raises(ValueError, match="dimensions differ"):
        nearest_neighbours(rng.standard_normal((2, 4)), r)
    with pytest.raises(ValueError, match="k must be"):
        nearest_neighbours(r, r, k=11)
    with pytest.raises(ValueError, match="copies of the reference"):
        distance_ratio(r[:2], r, r)
