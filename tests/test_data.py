"""Data layer: the offline Fashion-MNIST, ranges, errors, the in-memory loader."""
from pathlib import Path

import pytest
import torch

from gan_utils import data as gdata
from gan_utils.data import DataUnavailableError, InMemoryLoader, load_dataset, resize_images

HAVE_FMNIST = gdata.SYSTEM_FASHION_MNIST.joinpath("t10k-images-idx3-ubyte.gz").exists()
needs_fmnist = pytest.mark.skipif(not HAVE_FMNIST, reason="apt-get install dataset-fashion-mnist")


@needs_fmnist
def test_fashion_mnist_offline_shapes_dtype_range():
    ds = load_dataset("fashion-mnist", train=False)
    assert len(ds) == 10000
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    allx = gdata.to_float(ds.images[:500])
    assert allx.min() == -1 and allx.max() == 1, "the data must span the tanh range [-1, 1], not [0, 1]"
    assert 0 <= y < 10


@needs_fmnist
@pytest.mark.parametrize("size", [32, 64])
def test_image_size_pads_or_resizes(size):
    ds = load_dataset("fashion-mnist", train=False, image_size=size)
    assert ds.images.shape[1:] == (1, size, size)
    if size == 32:  # 2-pixel background border, the 28x28 content unchanged
        raw = load_dataset("fashion-mnist", train=False)
        assert torch.equal(ds.images[:, :, 2:30, 2:30], raw.images)
        assert ds.images[:, :, :2].max() == 0


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="fashion-mnist, mnist, cifar10"):
        load_dataset("imagenet")


@pytest.mark.parametrize("name", ["mnist", "cifar10", "fashion-mnist"])
def test_missing_data_offline_gives_one_clear_error(tmp_path, monkeypatch, name):
    """Empty directory, downloads disabled: the error names the remedies."""
    monkeypatch.setattr(gdata, "SYSTEM_FASHION_MNIST", tmp_path / "nothing-here")
    monkeypatch.delenv("GAN_COURSE_DATA", raising=False)
    monkeypatch.setenv("GAN_COURSE_OFFLINE", "1")
    with pytest.raises(DataUnavailableError) as e:
        load_dataset(name, root=tmp_path)
    msg = str(e.value)
    assert "GAN_COURSE_DATA" in msg and "internet" in msg
    if name == "fashion-mnist":
        assert "apt-get install dataset-fashion-mnist" in msg


@needs_fmnist
def test_gan_course_data_env_points_at_idx_files(tmp_path, monkeypatch):
    import shutil
    for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(gdata.SYSTEM_FASHION_MNIST / f, tmp_path / f)
    monkeypatch.setattr(gdata, "SYSTEM_FASHION_MNIST", Path("/nonexistent"))
    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path))
    assert len(load_dataset("fashion-mnist", train=False)) == 10000


def test_in_memory_loader_covers_each_epoch_once_and_reshuffles():
    x = torch.arange(40, dtype=torch.float32).view(40, 1)
    loader = InMemoryLoader(x, 10, seed=1)
    e1 = torch.cat(list(loader.epoch_batches())).view(-1)
    e2 = torch.cat(list(loader.epoch_batches())).view(-1)
    assert sorted(e1.tolist()) == list(range(40)) and sorted(e2.tolist()) == list(range(40))
    assert not torch.equal(e1, e2), "must reshuffle every epoch"


def test_in_memory_loader_state_resumes_the_same_order():
    x = torch.arange(50, dtype=torch.float32).view(50, 1)
    a = InMemoryLoader(x, 8, seed=2)
    it = iter(a)
    for _ in range(9):
        next(it)
    state = a.state_dict()
    expected = [next(it) for _ in range(5)]
    b = InMemoryLoader(x, 8, seed=2)
    b.load_state_dict(state)
    itb = iter(b)
    assert all(torch.equal(next(itb), e) for e in expected)


def test_in_memory_loader_scales_uint8_to_tanh_range():
    ds = gdata.synthetic_images(32, 3, 32)
    batch = next(iter(InMemoryLoader(ds, 8)))
    assert batch.shape == (8, 3, 32, 32) and batch.min() >= -1 and batch.max() <= 1 and batch.min() < 0


def test_resize_rejects_tiny_sizes():
    with pytest.raises(ValueError):
        resize_images(torch.zeros(1, 1, 28, 28, dtype=torch.uint8), 4)
