"""Tests of gan_utils.metrics.fid / features / prdc (notebook 06). Each test names the bug it guards against.

Reference values: pytorch-fid's ``calculate_frechet_distance`` (scipy's ``sqrtm``) for full-rank
covariances. For near-singular covariances (fewer samples than dimensions) scipy's ``sqrtm`` loses
accuracy (relative errors ~1e-8 here, from the square roots of rounding-level eigenvalues), so there
we also compare with an exact low-rank reference: for Sigma_i = A_i^T A_i with A_i the centred
samples / sqrt(n - 1), Tr (Sigma1 Sigma2)^{1/2} is the nuclear norm of the small n x n matrix
A1 A2^T (its singular values are the square roots of the non-zero eigenvalues of Sigma1 Sigma2).
"""
from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_utils.data import load_dataset, to_float
from gan_utils.metrics import (ClassifierFeatures, FIDResult, InceptionFeatures, InceptionUnavailableError,
                               feature_statistics, fid, frechet_distance, get_extractor, inception_score,
                               precision_recall)
from gan_utils.metrics.fid import RunningStats, clear_memory_cache, real_statistics

pfid = pytest.importorskip("pytorch_fid.fid_score")
pytestmark = pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")

FALLBACK_MSG = "fid calculation produces singular product"


# ---------------------------------------------------------------- helpers
def _samples(rng, n, d, scale=1.0, shift=0.0):
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    return (rng.standard_normal((n, d)) @ mix) * scale + shift + rng.standard_normal(d) * 0.3


def _stats(x):
    return x.mean(0), np.cov(x, rowvar=False)


def _lowrank_reference(x1, x2):
    """Exact FD of the sample statistics via the nuclear norm of A1 A2^T (see module docstring)."""
    a1 = (x1 - x1.mean(0)) / np.sqrt(len(x1) - 1)
    a2 = (x2 - x2.mean(0)) / np.sqrt(len(x2) - 1)
    diff = x1.mean(0) - x2.mean(0)
    nuclear = np.linalg.svd(a1 @ a2.T, compute_uv=False).sum()
    return diff @ diff + (a1 ** 2).sum() + (a2 ** 2).sum() - 2 * nuclear


def _pytorch_fid(capsys, *stats):
    value = pfid.calculate_frechet_distance(*stats)
    # pytorch-fid silently switches to (Sigma + eps I) when sqrtm is not finite: then it computes a
    # different quantity, and a comparison with it would not be honest.
    assert FALLBACK_MSG not in capsys.readouterr().out
    return float(value)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_COURSE_CACHE", str(tmp_path / "cache"))
    clear_memory_cache()
    yield tmp_path / "cache"
    clear_memory_cache()


@pytest.fixture(scope="module")
def fmnist_test():
    return load_dataset("fashion-mnist", train=False)


@pytest.fixture(scope="module")
def fmnist_train():
    return load_dataset("fashion-mnist", train=True)


@pytest.fixture(scope="module")
def clf():
    return ClassifierFeatures("fashion-mnist")


# ---------------------------------------------------------------- the distance
def _random_full_rank_stats(rng, d, scale=1.0, shift=0.0):
    if d <= 512:   # sample statistics, as np.cov makes them
        return _stats(_samples(rng, 2 * d + 10, d, scale, shift))
    # 2048-d: diagonal + low rank (full rank, non-commuting pairs) without 2048^3 sample costs
    b = rng.standard_normal((d, 64)) / 8
    return rng.standard_normal(d) * 0.3 + shift, scale ** 2 * (np.diag(rng.uniform(0.1, 2.0, d)) + b @ b.T)


@pytest.mark.parametrize("d", [2, 16, 64, 512, pytest.param(2048, marks=pytest.mark.slow)])
def test_sqrtm_formula_agrees_with_pytorch_fid(d, capsys):
    rng = np.random.default_rng(d)
    s1 = _random_full_rank_stats(rng, d)
    s2 = _random_full_rank_stats(rng, d, scale=1.3, shift=0.2)
    ours = frechet_distance(*s1, *s2)
    ref = _pytorch_fid(capsys, *s1, *s2)
    assert isinstance(ours, float)
    assert abs(ours - ref) <= 1e-6 * abs(ref), (ours, ref)


@pytest.mark.parametrize("d", [16, 64, 512])
def test_near_singular_covariances_agree_with_pytorch_fid_and_exact_reference(d, capsys):
    """Fewer samples than dimensions: rank-deficient covariances (the small-n FID of a notebook)."""
    rng = np.random.default_rng(100 + d)
    x1 = _samples(rng, d // 2, d)
    x2 = _samples(rng, d // 2, d, scale=0.8, shift=-0.1)
    ours = frechet_distance(*_stats(x1), *_stats(x2))
    ref = _pytorch_fid(capsys, *_stats(x1), *_stats(x2))
    exact = _lowrank_reference(x1, x2)
    assert abs(ours - ref) <= 1e-6 * abs(ref), (ours, ref)
    # pytorch-fid's own error here is ~1e-8 relative; ours is at rounding level
    assert abs(ours - exact) <= 1e-10 * abs(exact), (ours, exact)


@pytest.mark.slow
def test_near_singular_2048d_matches_exact_reference():
    """The Inception case at n < 2048 (pytorch-fid's sqrtm takes ~30 s here and is ~1e-8 off)."""
    rng = np.random.default_rng(7)
    x1 = rng.standard_normal((300, 2048))
    x2 = rng.standard_normal((300, 2048)) * 1.1 + 0.05
    ours = frechet_distance(*_stats(x1), *_stats(x2))
    exact = _lowrank_reference(x1, x2)
    assert abs(ours - exact) <= 1e-10 * abs(exact), (ours, exact)


def test_diagonal_covariances_match_closed_form():
    # For diagonal Sigmas the formula is sum_i (sqrt(a_i) - sqrt(b_i))^2 plus the mean term.
    rng = np.random.default_rng(1)
    for d in (1, 3, 100):
        a, b = rng.uniform(0.01, 4, d), rng.uniform(0.01, 4, d)
        a[: d // 3] = 0.0                                   # some zero variances too
        mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
        closed = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
        got = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
        assert got == pytest.approx(closed, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("n,d", [(500, 64), (40, 64), (200, 256)])
def test_distance_of_identical_statistics_is_zero(n, d):
    rng = np.random.default_rng(n + d)
    mu, sigma = _stats(_samples(rng, n, d))
    got = frechet_distance(mu, sigma, mu, sigma)
    assert abs(got) <= 1e-12 * np.trace(sigma) * d, got
    # torch tensors and float32 inputs go through the same float64 path
    got32 = frechet_distance(torch.tensor(mu, dtype=torch.float32), torch.tensor(sigma, dtype=torch.float32),
                             torch.tensor(mu, dtype=torch.float32), torch.tensor(sigma, dtype=torch.float32))
    assert abs(got32) <= 1e-5 * np.trace(sigma)


def test_never_returns_complex_or_nan_for_psd_inputs_with_rounding_negative_eigenvalues():
    rng = np.random.default_rng(3)
    d = 50
    v = rng.standard_normal((d, 2))
    s1 = v @ v.T                                           # rank 2: eigenvalues ~ -1e-15 after rounding
    s2 = np.outer(v[:, 0], v[:, 0]) * 1e-3 + np.diag(rng.uniform(0, 1e-14, d))
    assert np.linalg.eigvalsh(s1).min() < 0                # the case that makes sqrtm complex
    for a, b in ((s1, s2), (s2, s1), (s1, s1), (np.zeros((d, d)), s1)):
        got = frechet_distance(np.zeros(d), a, np.zeros(d), b)
        assert isinstance(got, float) and np.isfinite(got)
        assert got >= -1e-9 * (np.trace(a) + np.trace(b) + 1)


def test_shape_mismatch_is_an_error_not_broadcasting():
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_running_stats_match_numpy_cov_despite_a_large_mean():
    # sum-of-squares covariance cancels catastrophically when |mean| >> std unless shifted
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 8)) * 0.01 + 1000.0
    rs = RunningStats()
    for chunk in torch.from_numpy(x).split(700):
        rs.update(chunk)
    mu, sigma = rs.mean_cov()
    np.testing.assert_allclose(mu, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-8, atol=1e-12)
    mu2, sigma2 = feature_statistics(x)
    np.testing.assert_allclose(sigma2, np.cov(x, rowvar=False), rtol=1e-8, atol=1e-12)


# ---------------------------------------------------------------- ladders on real images
def _blur(x, sigma):
    if sigma == 0:
        return x
    r = int(np.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))


@pytest.fixture(scope="module")
def ladder_setup(fmnist_test, fmnist_train, clf):
    x = to_float(fmnist_test.images[:2048])
    ref = feature_statistics(clf(to_float(fmnist_train.images[:10000])))
    return x, ref


@pytest.mark.parametrize("kind,levels", [("noise", [0.0, 0.05, 0.1, 0.2, 0.4, 0.8]),
                                         ("blur", [0.0, 0.5, 1.0, 1.5, 2.0, 3.0])])
def test_distance_grows_monotonically_with_corruption(kind, levels, ladder_setup, clf):
    """An extractor that is blind to noise/blur (or a sign error in the formula) breaks the ladder."""
    x, (mu_r, sig_r) = ladder_setup
    g = torch.Generator().manual_seed(0)
    values = []
    for s in levels:
        xc = (x + s * torch.randn(x.shape, generator=g)).clamp(-1, 1) if kind == "noise" else _blur(x, s)
        values.append(frechet_distance(*feature_statistics(clf(xc)), mu_r, sig_r))
    print(kind, [round(v, 3) for v in values])
    assert all(b > a for a, b in zip(values, values[1:])), values
    assert values[-1] > 10 * values[0]


# ---------------------------------------------------------------- the protocol
def test_fid_reports_classifier_distance_under_its_own_name_with_protocol(cache_dir, fmnist_test):
    res = fid(fmnist_test.images[:3000], "fashion-mnist", features="classifier", n_real=5000)
    assert isinstance(res, FIDResult)
    assert res.name == "FD-classifier" and "FID" not in str(res)
    assert (res.n_fake, res.n_real, res.reference) == (3000, 5000, "fashion-mnist train")
    assert str(res).startswith(f"FD-classifier = {res.value:.2f} (fashion-mnist classifier features, 3000 samples "
                               "vs fashion-mnist train, 5000)")
    assert 0 < float(res) < 5  # test vs train images of the same dataset: small


def test_fid_warns_when_n_is_too_small_to_be_unbiased(cache_dir, fmnist_test):
    with pytest.warns(UserWarning, match="biased"):
        fid(fmnist_test.images[:500], features="classifier", n_real=5000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fid(fmnist_test.images[:2048], features="classifier", n_real=5000)


def test_real_statistics_are_cached_in_memory_and_on_disk(cache_dir, clf):
    a = real_statistics(clf, "fashion-mnist", "test", image_size=28, n_real=3000)
    files = list(cache_dir.glob("stats/*.npz"))
    assert len(files) == 1 and clf.cache_id in files[0].name and "test" in files[0].name
    assert real_statistics(clf, "fashion-mnist", "test", image_size=28, n_real=3000) is a  # memory
    clear_memory_cache()
    b = real_statistics(clf, "fashion-mnist", "test", image_size=28, n_real=3000)            # disk
    np.testing.assert_array_equal(a[1], b[1])
    c = real_statistics(clf, "fashion-mnist", "test", image_size=32, n_real=3000)            # other key
    assert len(list(cache_dir.glob("stats/*.npz"))) == 2
    # 32x32 padded Fashion-MNIST is cropped back to 28x28 by the classifier: same statistics
    np.testing.assert_allclose(a[1], c[1], rtol=1e-6, atol=1e-8)


class _TinyGenerator(nn.Module):
    def __init__(self, latent_dim=8):
        super().__init__()
        self.latent_dim = latent_dim
        self.fc = nn.Linear(latent_dim, 28 * 28)
        self.bn = nn.BatchNorm1d(28 * 28)

    def forward(self, z):
        return torch.tanh(self.bn(self.fc(z))).view(-1, 1, 28, 28)


def test_fid_of_generator_is_seeded_and_leaves_the_module_untouched(cache_dir):
    """Sampling in train mode would use batch statistics and overwrite BatchNorm's running ones."""
    G = _TinyGenerator().train()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    with pytest.warns(UserWarning, match="biased"):
        r1 = fid(G, features="classifier", n=600, n_real=3000, batch_size=256)
    assert G.training                                          # mode restored
    for k, v in G.state_dict().items():                        # BN running stats not updated
        assert torch.equal(v, before[k]), k
    G.eval()                                                   # a plain callable is used as it is
    with pytest.warns(UserWarning, match="biased"):
        r2 = fid(lambda z: G(z), features="classifier", n=600, n_real=3000, latent_dim=8, batch_size=256)
    assert r1.n_fake == r2.n_fake == 600 and r1.value == r2.value and r1.value > 1.0
    with pytest.raises(ValueError, match="latent_dim"):
        fid(lambda z: z, features="classifier", n=10)


def test_fid_10k_reads_the_reference_set_once_then_reuses_its_cached_statistics(tmp_path, monkeypatch):
    """FD-classifier of 10 000 samples vs the whole train split (60 000). Guards against recomputing
    the reference statistics per call (memory cache) or per process (disk cache). Counts the work
    done instead of timing it: a 30 s limit failed at load 7.6 on a shared machine (speed is a
    benchmark's business, not a unit test's)."""
    from gan_utils.data import load_dataset, to_float
    from gan_utils.metrics import fid
    fid_module = importlib.import_module("gan_utils.metrics.fid")
    from gan_utils.metrics.features import ClassifierFeatures

    monkeypatch.setenv("GAN_COURSE_CACHE", str(tmp_path / "cache"))
    fid_module.clear_memory_cache()
    seen = []
    forward = ClassifierFeatures.__call__

    def counting(self, images):
        seen.append(len(images))
        return forward(self, images)

    monkeypatch.setattr(ClassifierFeatures, "__call__", counting)
    samples = to_float(load_dataset("fashion-mnist", train=False).images)     # 10 000 images in [-1, 1]
    cold = fid(samples, "fashion-mnist", features="classifier")
    assert sum(seen) == 10_000 + 60_000 and cold.n_fake == 10_000 and cold.n_real == 60_000
    seen.clear()
    warm = fid(samples, "fashion-mnist", features="classifier")              # reference from memory
    assert sum(seen) == 10_000 and warm.value == cold.value
    seen.clear()
    fid_module.clear_memory_cache()                                            # a new process: from disk
    disk = fid(samples, "fashion-mnist", features="classifier")
    assert sum(seen) == 10_000 and disk.value == cold.value
    assert list((tmp_path / "cache" / "stats").glob("*.npz")), "the reference statistics were not cached on disk"
    assert 0 < cold.value < 1          # test split vs train split of the same data


# ---------------------------------------------------------------- Inception
def _random_fid_inception_state_dict(seed=0):
    """Seeded random weights with the keys and shapes of pytorch-fid's FID Inception: its blocks
    (FIDInceptionA/C/E) have the same parameters as torchvision's, so torchvision's state dict fits.
    He-normal convolutions keep the activations O(1) through the 90+ layers."""
    import pytorch_fid.inception as pfi

    net = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    g = torch.Generator().manual_seed(seed)
    sd = net.state_dict()
    with torch.no_grad():
        for k, v in sd.items():
            if v.dim() == 4:
                v.normal_(0, (2.0 / v[0].numel()) ** 0.5, generator=g)
            elif k.endswith("running_var"):
                v.uniform_(0.5, 1.5, generator=g)
            elif k.endswith("running_mean") or k.endswith("bias"):
                v.normal_(0, 0.1, generator=g)
    return sd


def test_inception_pipeline_matches_pytorch_fid_with_random_weights(tmp_path, fmnist_test):
    """Same network, resize and scaling as pytorch-fid's own image pipeline (PNG -> RGB -> [0,1])."""
    from PIL import Image
    import pytorch_fid.inception as pfi

    sd = _random_fid_inception_state_dict()
    ours = InceptionFeatures(state_dict=sd, device="cpu", batch_size=4)
    assert ours.distance_name != "FID" and ours.cache_id is None   # random weights are not FID
    original = pfi.load_state_dict_from_url
    pfi.load_state_dict_from_url = lambda *a, **k: sd
    try:
        theirs_model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    finally:
        pfi.load_state_dict_from_url = original
    imgs = fmnist_test.images[:2]                                   # grey (2, 1, 28, 28) uint8
    files = []
    for i, im in enumerate(imgs):
        files.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(im[0].numpy(), mode="L").save(files[-1])
    theirs = pfid.get_activations(files, theirs_model, batch_size=2, dims=2048, device="cpu", num_workers=0)
    got = ours(to_float(imgs)).numpy()
    assert got.shape == (2, 2048)
    assert np.abs(theirs).mean() > 0.1                             # the random net is not dead
    np.testing.assert_allclose(got, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


def test_offline_without_inception_weights_gives_one_clear_error(monkeypatch, tmp_path, cache_dir, fmnist_test):
    monkeypatch.setenv("GAN_COURSE_OFFLINE", "1")
    monkeypatch.delenv("GAN_COURSE_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))      # no hub cache either
    with pytest.raises(InceptionUnavailableError) as e:
        InceptionFeatures(device="cpu")
    msg = str(e.value)
    assert "GAN_COURSE_INCEPTION_WEIGHTS" in msg and "features='classifier'" in msg and "FD-classifier" in msg
    monkeypatch.setenv("GAN_COURSE_INCEPTION_WEIGHTS", str(tmp_path / "missing.pth"))
    with pytest.raises(InceptionUnavailableError, match="does not exist"):
        InceptionFeatures(device="cpu")
    monkeypatch.delenv("GAN_COURSE_INCEPTION_WEIGHTS")
    # "auto" falls back to the classifier, and the name says so
    assert isinstance(get_extractor("auto"), ClassifierFeatures)
    res = fid(fmnist_test.images[:2048], features="auto", n_real=3000)
    assert res.name == "FD-classifier"


def test_local_inception_weights_file_is_used_offline(monkeypatch, tmp_path):
    """$GAN_COURSE_INCEPTION_WEIGHTS must be honoured offline, and make "auto" pick Inception."""
    sd = _random_fid_inception_state_dict(seed=1)
    path = tmp_path / "pt_inception.pth"
    torch.save(sd, path)
    monkeypatch.setenv("GAN_COURSE_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("GAN_COURSE_INCEPTION_WEIGHTS", str(path))
    ext = get_extractor("auto", device="cpu")
    assert isinstance(ext, InceptionFeatures) and ext.distance_name == "FID" and ext.dim == 2048
    w = dict(ext.model.named_parameters())["blocks.0.0.conv.weight"]
    torch.testing.assert_close(w, sd["Conv2d_1a_3x3.conv.weight"])


# ---------------------------------------------------------------- Inception score
def test_inception_score_extremes():
    k = 10
    onehot = torch.eye(k).repeat(100, 1)                            # confident and balanced
    assert inception_score(onehot, splits=10)[0] == pytest.approx(k)
    same = torch.zeros(1000, k)
    same[:, 3] = 1                                                  # collapsed: one class
    assert inception_score(same)[0] == pytest.approx(1.0)
    uniform = torch.full((1000, k), 1.0 / k)                        # unsure about everything
    assert inception_score(uniform) == (pytest.approx(1.0), pytest.approx(0.0, abs=1e-12))
    with pytest.raises(ValueError, match="probabilities"):
        inception_score(torch.randn(100, k))                        # logits instead of softmax


def test_classifier_score_of_real_images_is_high(clf, fmnist_test):
    mean, std = inception_score(clf.probs(to_float(fmnist_test.images[:5000])), splits=10)
    assert 7.0 < mean <= 10.0 and std < 0.5


# ---------------------------------------------------------------- precision / recall
@pytest.fixture(scope="module")
def real_feats(clf, fmnist_train, fmnist_test):
    return clf(to_float(fmnist_train.images[:2000])), clf(to_float(fmnist_test.images[:2000]))


def test_precision_recall_of_real_vs_real_is_high(real_feats):
    pr = precision_recall(*real_feats, k=3)
    print(pr)
    assert pr.precision > 0.6 and pr.recall > 0.6
    assert 0.6 < pr.density < 1.5 and pr.coverage > 0.8


def test_mode_collapse_shows_as_low_recall_not_low_precision(real_feats, clf, fmnist_test):
    real, _ = real_feats
    few = to_float(fmnist_test.images[:5]).repeat(400, 1, 1, 1)    # 5 real images, 2000 samples
    pr = precision_recall(real, clf(few), k=3)
    print(pr)
    assert pr.recall < 0.05 and pr.precision > 0.5 and pr.coverage < 0.05


def test_fid_of_a_generator_does_not_depend_on_the_batch_size():
    """Drawing z batch by batch from one seeded generator gave other samples for another batch size."""
    import torch.nn as nn

    from gan_utils.metrics.fid import _generated_statistics
    from gan_utils.metrics.features import FeatureExtractor

    class Flat(FeatureExtractor):
        name, distance_name, dim, min_samples, cache_id = "flat", "FD-flat", 4, 1, "flat"

        def __init__(self):
            pass

        def __call__(self, x):
            return x.flatten(1).double()

    G = nn.Linear(3, 4)
    G.latent_dim = 3
    a = _generated_statistics(G, 3, 50, Flat(), 7, seed=0)
    b = _generated_statistics(G, 3, 50, Flat(), 50, seed=0)
    assert np.allclose(a[0], b[0]) and np.allclose(a[1], b[1])



def test_real_floor_scores_real_images_of_the_other_split_exactly_like_a_generator(cache_dir):
    # guards against: a floor computed under another protocol than the scores it sits beside (another n, split,
    # image size or extractor), which would make "the value a perfect generator reaches" meaningless
    from gan_utils.data import load_dataset
    from gan_utils.metrics import ClassifierFeatures, real_floor

    ext = ClassifierFeatures("fashion-mnist", device="cpu")
    got = real_floor(ext, "fashion-mnist", split="test", n=2048, image_size=32, seed=3)
    train = load_dataset("fashion-mnist", train=True, image_size=32).images
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(3))[:2048]
    direct = fid(train[idx.sort().values], "fashion-mnist", split="test", n=2048, features=ext)
    assert got.value == pytest.approx(direct.value, rel=1e-9, abs=1e-9)
    assert (got.n_fake, got.n_real, got.name) == (2048, 10_000, "FD-classifier")
    assert "real train images" in got.reference
    with pytest.raises(ValueError, match="split"):
        real_floor(ext, "fashion-mnist", split="valid")
