"""Image datasets for the course and the in-memory loader (taught in notebooks/00_setup.ipynb).

Images are always returned scaled to **[-1, 1]**, the range of the generator's ``tanh`` output:
a real batch in [0, 1] against a tanh generator is one of the classic bugs (notebook 05).

Fashion-MNIST works offline: the IDX files are read from ``$GAN_COURSE_DATA`` or
``/usr/share/datasets/fashion-mnist/`` (Debian package ``dataset-fashion-mnist``) before any
download is tried. Online, torchvision downloads MNIST, Fashion-MNIST and CIFAR-10 (its checksums
apply).
"""
from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .runtime import ConfigError, UserError, available_memory, cache_dir, env_flag

DATASETS = ("fashion-mnist", "mnist", "cifar10")
SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


class DataUnavailableError(UserError, RuntimeError):
    """The dataset is neither on disk nor downloadable, or its files are damaged; the message names
    the file and says what to do."""


def default_root() -> Path:
    """Where downloads go: ``$GAN_COURSE_DATA`` if set, else ``~/.cache/gan_course/data``."""
    env = os.environ.get("GAN_COURSE_DATA")
    return Path(env).expanduser() if env else cache_dir("data")


def downloads_allowed() -> bool:
    """False when ``GAN_COURSE_OFFLINE=1``: never touch the network (tests use it)."""
    return not env_flag("GAN_COURSE_OFFLINE")


class ImageDataset(Dataset):
    """Images kept as one uint8 tensor ``(N, C, H, W)``; items are float in [-1, 1] plus label.

    Keeping uint8 makes a 64x64 CIFAR-10 fit in ~600 MB; the [-1, 1] scaling
    (``x / 127.5 - 1``) happens per item or per batch (:class:`InMemoryLoader`).
    """

    def __init__(self, images_u8: torch.Tensor, labels: torch.Tensor, name: str, classes=()):
        if images_u8.dtype != torch.uint8 or images_u8.dim() != 4:
            raise ValueError("ImageDataset wants a uint8 tensor shaped (N, C, H, W)")
        self.images = images_u8
        self.labels = labels.long()
        self.name = name
        self.classes = tuple(classes)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i):
        return to_float(self.images[i]), int(self.labels[i])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def __repr__(self) -> str:
        c, h, w = self.image_shape
        return f"ImageDataset({self.name!r}, n={len(self)}, shape=({c}, {h}, {w}), range=[-1, 1])"


def to_float(x_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] (the tanh range)."""
    return x_u8.float().div_(127.5).sub_(1.0)


# ---------------------------------------------------------------- IDX files (MNIST format)
def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped or not) as an array; a damaged file raises DataUnavailableError naming it."""
    fix = (f"The file {path} is damaged (a partial download?). Delete it so it is downloaded again, or "
           "replace it with a good copy (for Fashion-MNIST: sudo apt-get install --reinstall dataset-fashion-mnist).")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataUnavailableError(f"cannot read {path} ({type(e).__name__}: {e}). {fix}") from None
    if len(data) < 8:
        raise DataUnavailableError(f"{path} is too short to be an IDX file. {fix}")
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    if (magic >> 8) != 0x08 or ndim not in (1, 3):  # 0x08 = unsigned byte; labels 1-D, images 3-D
        raise DataUnavailableError(f"{path} is not an unsigned-byte IDX file of images or labels "
                                   f"(magic number {magic:#010x}). {fix}")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if len(data) != expected:
        raise DataUnavailableError(f"{path} holds {len(data)} bytes where its header promises {expected} "
                                   f"(dims {dims}). {fix}")
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        for cand in (directory / name, directory / "raw" / name):
            if cand.is_file():
                return cand
    return None


def _local_idx_dirs(name: str, root: Path | None) -> list[Path]:
    dirs = []
    if root is not None:
        dirs += [Path(root), Path(root) / name, Path(root) / name.replace("-", "_")]
    env = os.environ.get("GAN_COURSE_DATA")
    if env:
        dirs += [Path(env), Path(env) / name]
    if name == "fashion-mnist":
        dirs.append(SYSTEM_FASHION_MNIST)
    return dirs


def _load_idx_pair(name: str, root: Path | None, train: bool):
    prefix = "train" if train else "t10k"
    for d in _local_idx_dirs(name, root):
        img = _find_idx(d, f"{prefix}-images-idx3-ubyte")
        lab = _find_idx(d, f"{prefix}-labels-idx1-ubyte")
        if img is not None and lab is not None:
            x, y = _read_idx(img), _read_idx(lab)
            if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
                raise DataUnavailableError(
                    f"{img} ({x.shape[0]} images, {x.ndim}-D) and {lab} ({y.shape[0]} labels, {y.ndim}-D) do not "
                    f"belong together: an images file and the labels file of the same split are expected "
                    f"({prefix}-images-idx3-ubyte with {prefix}-labels-idx1-ubyte). Replace the wrong file.")
            return torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype(np.int64))  # (N,28,28)->(N,1,28,28)
    return None


def _missing_message(name: str, root: Path, reason: str) -> str:
    lines = [f"Could not load the {name!r} dataset: {reason}", "Fix it in one of these ways:"]
    if name == "fashion-mnist":
        lines.append("  - install the offline copy: sudo apt-get install dataset-fashion-mnist "
                     f"(files land in {SYSTEM_FASHION_MNIST}/)")
    lines += [
        "  - connect to the internet (and unset GAN_COURSE_OFFLINE) so torchvision can download it",
        f"  - or put the files in a folder and set GAN_COURSE_DATA=/that/folder (looked in: {root})",
    ]
    if name != "fashion-mnist":
        lines.append("  - or use dataset='fashion-mnist', which works offline")
    return "\n".join(lines)


def _torchvision_download(name: str, root: Path, train: bool, download: bool):
    import torchvision

    cls = {"fashion-mnist": torchvision.datasets.FashionMNIST,
           "mnist": torchvision.datasets.MNIST,
           "cifar10": torchvision.datasets.CIFAR10}[name]
    try:
        ds = cls(root=str(root), train=train, download=download)
    except RuntimeError as e:  # torchvision: "Dataset not found. You can use download=True ..."
        raise DataUnavailableError(_missing_message(name, root, f"not found on disk ({e})")) from None
    except OSError as e:  # URLError, socket errors, ... (no network)
        raise DataUnavailableError(_missing_message(name, root, f"download failed ({e})")) from None
    if name == "cifar10":
        x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()  # (N,32,32,3)->(N,3,32,32)
        y = torch.tensor(ds.targets, dtype=torch.long)
    else:
        x = ds.data.unsqueeze(1).contiguous()  # (N, 28, 28) -> (N, 1, 28, 28)
        y = ds.targets.long()
    return x, y


def resize_images(x_u8: torch.Tensor, image_size: int) -> torch.Tensor:
    """Bring uint8 images ``(N, C, h, w)`` to ``image_size`` (square).

    28 -> 32 pads 2 background pixels per side (keeps every pixel exact, as LeNet did);
    any other change resizes bilinearly (28 -> 64, 32 -> 64).
    """
    h = x_u8.shape[-1]
    if not isinstance(image_size, int) or isinstance(image_size, bool):
        raise ConfigError(f"image_size={image_size!r} must be a whole number (28, 32 or 64)")
    if image_size == h:
        return x_u8
    if image_size < 8:
        raise ConfigError(f"image_size={image_size} is too small; use 28, 32 or 64")
    need = x_u8.shape[0] * x_u8.shape[1] * image_size * image_size
    free = available_memory()
    if image_size > 256 or (free is not None and need > free // 2):
        raise ConfigError(f"image_size={image_size} would need {need / 2**30:.1f} GiB for {x_u8.shape[0]} images"
                          + (f" ({free / 2**30:.1f} GiB free)" if free is not None else "")
                          + "; the course's models take 28, 32 or 64")
    if h == 28 and image_size == 32:
        # background is the darkest value (0): Fashion-MNIST/MNIST have black backgrounds
        return F.pad(x_u8, (2, 2, 2, 2), value=0)
    out = []
    for chunk in x_u8.split(4096):
        y = F.interpolate(chunk.float(), size=(image_size, image_size), mode="bilinear",
                          align_corners=False, antialias=image_size < h)
        out.append(y.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out)


def load_dataset(name: str, root=None, train: bool = True, image_size: int | None = None,
                 download: bool | None = None) -> ImageDataset:
    """Load ``"fashion-mnist"``, ``"mnist"`` or ``"cifar10"`` as an :class:`ImageDataset`.

    Items are ``(image, label)`` with ``image`` a float tensor ``(C, H, W)`` **in [-1, 1]** (the
    tanh range of the generators). ``image_size`` pads/resizes the native 28x28 (or 32x32) images
    to 32 or 64. ``download=None`` downloads only when files are missing and the network is
    allowed (``GAN_COURSE_OFFLINE`` unset).

    Raises ``ValueError`` for an unknown name and :class:`DataUnavailableError` (with the fixes
    spelled out) when the data is neither on disk nor downloadable.
    """
    key = name.lower().replace("_", "-")
    key = {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10"}.get(key, key)
    if key not in DATASETS:
        raise ConfigError(f"Unknown dataset {name!r}. Valid names: {', '.join(DATASETS)} (and, in configs and "
                          "the CLI, 'synthetic': random colour blobs for tests)")
    root_path = Path(root) if root is not None else default_root()
    if download is None:
        download = downloads_allowed()

    found = _load_idx_pair(key, root_path, train) if key != "cifar10" else None
    # else torchvision: its own layout under root; it downloads only when allowed
    x, y = found if found is not None else _torchvision_download(key, root_path, train, download=download)
    if image_size is not None:
        x = resize_images(x, image_size)
    classes = {"fashion-mnist": FASHION_MNIST_CLASSES, "cifar10": CIFAR10_CLASSES}.get(key, tuple(map(str, range(10))))
    return ImageDataset(x, y, key, classes)


def synthetic_images(n: int = 1024, channels: int = 3, image_size: int = 32, seed: int = 0) -> ImageDataset:
    """Smooth random colour blobs, a stand-in for CIFAR-10 where it cannot be downloaded (tests,
    smoke runs of notebook 08). Deterministic for a seed; not a benchmark of anything."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, channels, 4, 4, generator=g)
    x = F.interpolate(coarse, size=(image_size, image_size), mode="bicubic", align_corners=False)
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    y = torch.randint(0, 10, (n,), generator=g)
    return ImageDataset(x, y, "synthetic")


# ---------------------------------------------------------------- in-memory loader
class InMemoryLoader:
    """The whole dataset as one tensor on ``device``; batches by indexing, no DataLoader workers.

    Reshuffled every epoch with a permutation drawn from its own generator seeded by
    ``(seed, epoch)``, so the batch order is reproducible and resumable: ``state_dict()`` is just
    ``(epoch, position)``. Yields float batches ``(B, C, H, W)`` in [-1, 1] (labels with
    ``with_labels=True``). Iteration is endless; use :meth:`epoch_batches` for one pass.
    """

    def __init__(self, dataset, batch_size: int, device="cpu", seed: int = 0,
                 drop_last: bool = True, with_labels: bool = False):
        if isinstance(dataset, ImageDataset):
            images, labels, self._u8 = dataset.images, dataset.labels, True
            self.name = dataset.name
        elif isinstance(dataset, torch.Tensor):
            images, labels = dataset, torch.zeros(len(dataset), dtype=torch.long)
            self._u8 = dataset.dtype == torch.uint8
            self.name = "tensor"
        else:
            raise TypeError("InMemoryLoader takes an ImageDataset or a tensor")
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.n = images.shape[0]
        self.batch_size = int(batch_size)
        if self.batch_size > self.n and drop_last:
            raise ValueError(f"batch_size={batch_size} is larger than the dataset ({self.n})")
        self.drop_last = drop_last
        self.with_labels = with_labels
        self.seed = seed
        self.epoch = 0
        self.position = 0
        self._perm = None

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)

    def _permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=g).to(self.device)

    def next_batch(self):
        if self._perm is None:
            self._perm = self._permutation(self.epoch)
        if self.position >= len(self):
            self.epoch += 1
            self.position = 0
            self._perm = self._permutation(self.epoch)
        start = self.position * self.batch_size
        idx = self._perm[start:start + self.batch_size]
        self.position += 1
        x = self.images.index_select(0, idx)
        x = to_float(x) if self._u8 else x
        if self.with_labels:
            return x, self.labels.index_select(0, idx)
        return x

    def __iter__(self):
        while True:
            yield self.next_batch()

    def epoch_batches(self):
        """One pass over the data: the rest of the current epoch, or the next epoch if it is done."""
        if self.position >= len(self):
            self.epoch, self.position, self._perm = self.epoch + 1, 0, None
        if self._perm is None:
            self._perm = self._permutation(self.epoch)
        for _ in range(len(self) - self.position):
            yield self.next_batch()

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def identity(self) -> dict:
        """Name, size and image shape of the data: stored in checkpoints, so that a resume on other
        data is refused (:func:`gan_utils.checkpoint.check_resumable`)."""
        return {"name": self.name, "n": int(self.n), "shape": list(self.images.shape[1:])}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position, self.seed = int(state["epoch"]), int(state["position"]), int(state["seed"])
        self._perm = self._permutation(self.epoch)
