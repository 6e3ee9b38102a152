"""Class-conditional training end to end: train() with labelled data, checkpoints, configs and the
command line (notebook 09). Each test names the bug it guards against."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from gan_utils.checkpoint import LATEST, load_checkpoint, load_generator
from gan_utils.config import RunConfig, build_run
from gan_utils.data import InMemoryLoader, synthetic_images
from gan_utils.models import DCGANDiscriminator, DCGANGenerator
from gan_utils.runtime import ConfigError
from gan_utils.train import TrainConfig, train

K = 4


def _data(n=64):
    ds = synthetic_images(n, channels=1, image_size=32, seed=0)
    ds.labels = ds.labels % K                                  # 4 classes
    return ds


def _models(kind="projection", k=K, norm="spectral"):
    torch.manual_seed(0)
    return (DCGANGenerator(16, 1, 32, 8, num_classes=k),
            DCGANDiscriminator(1, 32, 8, norm=norm, num_classes=k, conditioning=kind))


def _cfg(loss="bce-ns", **kw):
    return TrainConfig.preset(loss, **{"steps": 4, "batch_size": 16, "latent_dim": 16, "log_every": 2,
                                       "sample_every": 0, **kw})


@pytest.mark.parametrize("kind, loss", [("projection", "bce-ns"), ("concat", "hinge"), ("acgan", "acgan")])
def test_conditional_training_saves_num_classes_and_resumes(tmp_path, kind, loss):
    # guards against: a conditional run whose checkpoint cannot rebuild its generator (or forgets the classes)
    G, D = _models(kind)
    r = train(G, D, InMemoryLoader(_data(), 16, with_labels=True), _cfg(loss), out_dir=tmp_path, progress=False)
    ck = load_checkpoint(tmp_path / LATEST)
    assert ck["num_classes"] == K and ck["model_config"]["G"]["num_classes"] == K
    assert ck["model_config"]["D"]["conditioning"] == kind
    assert all(torch.isfinite(torch.tensor(r.history["loss_D"])))
    if kind == "acgan":
        assert "class_nll" in r.history                     # D's classifier is logged
    G2, D2 = _models(kind)
    r2 = train(G2, D2, InMemoryLoader(_data(), 16, with_labels=True), _cfg(loss, steps=6), out_dir=tmp_path,
               resume=True, progress=False)
    assert r2.history["step"][-1] == 6
    G3 = load_generator(tmp_path)
    assert G3.num_classes == K and G3(torch.randn(2, 16), torch.tensor([0, 3])).shape == (2, 1, 32, 32)


def test_unconditional_checkpoints_record_no_classes(tmp_path):
    # guards against: unconditional runs suddenly needing labels (or recording some) after cGANs were added
    torch.manual_seed(0)
    G, D = DCGANGenerator(16, 1, 32, 8), DCGANDiscriminator(1, 32, 8)
    train(G, D, InMemoryLoader(_data(), 16, with_labels=True), _cfg(), out_dir=tmp_path, progress=False)
    ck = load_checkpoint(tmp_path / LATEST)
    assert ck["num_classes"] is None and "num_classes" not in ck["model_config"]["G"]


class _Spy(DCGANGenerator):
    """A conditional generator that records the labels of its training-mode calls."""

    def forward(self, z, y=None):
        if self.training:
            self.seen.append(y.detach().clone())
        return super().forward(z, y)


@pytest.mark.parametrize("fast", [False, None])
def test_the_generator_is_asked_for_exactly_the_real_batchs_classes(fast):
    # guards against: labels reaching G shifted (off by one), cast to a narrow type, or from another batch
    torch.manual_seed(0)
    G = _Spy(16, 1, 32, 16, num_classes=K)
    G.seen = []
    D = DCGANDiscriminator(1, 32, 16, norm="spectral", num_classes=K)
    ds = _data()
    train(G, D, InMemoryLoader(ds, 16, with_labels=True, seed=3), _cfg(steps=5, fast=fast), progress=False)
    expected = InMemoryLoader(ds, 16, with_labels=True, seed=3)
    want = [expected.next_batch()[1] for _ in range(5)]
    assert len(G.seen) == 5
    for got, w in zip(G.seen, want):
        assert got.dtype == torch.long and torch.equal(got, w)


def test_conditional_models_on_unlabelled_data_are_one_clear_error():
    # guards against: a cGAN silently trained without labels (or crashing inside the first forward)
    G, D = _models()
    with pytest.raises(ConfigError, match="with_labels=True"):
        train(G, D, InMemoryLoader(_data(), 16), _cfg(), progress=False)


def test_labels_outside_the_models_classes_stop_before_the_first_step(tmp_path):
    # guards against: a dataset with more classes than the model (or labels from 1) indexing past the tables
    G, D = _models(k=3)                                         # the data has classes 0..3
    with pytest.raises(ConfigError, match=r"out of range.*num_classes"):
        train(G, D, InMemoryLoader(_data(), 16, with_labels=True, seed=1), _cfg(), out_dir=tmp_path, progress=False)
    assert not (tmp_path / LATEST).exists()


def test_mismatched_conditional_set_ups_are_refused():
    # guards against: an unconditional D next to a conditional G, or the AC-GAN loss on a projection D
    G, _ = _models()
    with pytest.raises(ConfigError, match="num_classes"):
        train(G, DCGANDiscriminator(1, 32, 8), InMemoryLoader(_data(), 16, with_labels=True), _cfg(), progress=False)
    G, D = _models("projection")
    with pytest.raises(ConfigError, match="acgan"):
        train(G, D, InMemoryLoader(_data(), 16, with_labels=True), _cfg("acgan"), progress=False)
    G, D = _models("acgan")
    with pytest.raises(ConfigError, match="acgan"):
        train(G, D, InMemoryLoader(_data(), 16, with_labels=True), _cfg("bce-ns"), progress=False)


# ---------------------------------------------------------------- configs and the command line
def _shapes_folder(root, classes=("circles", "squares"), n=6):
    for k, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (40, 36), (60 * k, 20 * i, 200)).save(root / c / f"{i}.png")
    return root


def test_run_config_builds_conditional_models_from_a_folder(tmp_path):
    # guards against: --conditional ignoring the folder's classes, or the folder's channels option
    folder = _shapes_folder(tmp_path / "imgs", classes=("a", "b", "c"))
    G, D, loader, cfg = build_run({"dataset": f"folder:{folder}", "channels": 1, "conditional": "concat", "width": 8,
                                   "batch_size": 4, "device": "cpu"})
    assert G.num_classes == D.num_classes == 3 and D.conditioning == "concat" and G.channels == 1
    x, y = loader.next_batch()
    assert x.shape == (4, 1, 32, 32) and y.dtype == torch.long
    assert RunConfig.from_options({"conditional": "acgan"}).train.loss == "acgan"     # AC-GAN brings its loss
    with pytest.raises(ConfigError, match="acgan"):
        RunConfig.from_options({"conditional": "projection", "loss": "acgan"})
    with pytest.raises(ConfigError, match="dcgan"):
        RunConfig.from_options({"conditional": "projection", "model": "mlp"})
    with pytest.raises(ConfigError, match="folder after the colon"):
        RunConfig.from_options({"dataset": "folder:"})
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (32, 32)).save(flat / "one.png")
    Image.new("RGB", (32, 32)).save(flat / "two.png")
    with pytest.raises(ConfigError, match="at least two classes"):
        build_run({"dataset": f"folder:{flat}", "conditional": "projection", "batch_size": 2, "device": "cpu"})


ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, cwd):
    # run from a scratch folder, importing this checkout's gan_utils (installed or not)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "gan_utils", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


def test_command_line_trains_on_a_folder_and_samples_a_class(tmp_path):
    # guards against: --conditional / --class not reaching the models, or a wrong class leaving a traceback
    folder = _shapes_folder(tmp_path / "imgs")
    out = tmp_path / "run"
    r = _cli("train", "--dataset", f"folder:{folder}", "--conditional", "--steps", "2", "--width", "8",
             "--batch-size", "4", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert load_checkpoint(out / LATEST)["num_classes"] == 2
    r = _cli("sample", "--checkpoint", str(out), "--n", "5", "--class", "1", "0", "--out", str(tmp_path / "s.pt"),
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert torch.load(tmp_path / "s.pt", weights_only=True).shape == (5, 3, 32, 32)
    assert torch.load(tmp_path / "s.labels.pt", weights_only=True).tolist() == [1, 0, 1, 0, 1]
    r = _cli("sample", "--checkpoint", str(out), "--n", "2", "--class", "2", "--out", str(tmp_path / "t.pt"),
             cwd=tmp_path)
    assert r.returncode == 2 and "out of range" in r.stderr and "0..1" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
