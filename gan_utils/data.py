"""Image datasets for the course and the in-memory loader (taught in notebooks/00_setup.ipynb).

Images are always returned scaled to **[-1, 1]**, the range of the generator's ``tanh`` output:
a real batch in [0, 1] against a tanh generator is one of the classic bugs (notebook 05).

Fashion-MNIST works offline: the IDX files are read from ``$GAN_COURSE_DATA`` or
``/usr/share/datasets/fashion-mnist/`` (Debian package ``dataset-fashion-mnist``) before any
download is tried. Online, torchvision downloads MNIST, Fashion-MNIST and CIFAR-10 (its checksums
apply).

Your own images: ``load_dataset("folder:PATH", image_size=64, channels=3)`` reads a folder of PNG
and JPEG files, optionally one sub-folder per class (:func:`load_image_folder`, taught in
notebooks/09_conditional.ipynb; ``--dataset folder:PATH`` in the CLI and configs).
Two domains for image-to-image translation (notebooks/11_image_to_image.ipynb):
``load_dataset("paired:PATH")`` (PATH/A and PATH/B, files of the same name form a pair: pix2pix) and
``load_dataset("unpaired:PATH")`` (PATH/A and PATH/B, any files: CycleGAN), :func:`load_two_domains`.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
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
        k = len(self.classes)
        if k and len(self.labels) and not (0 <= int(self.labels.min()) and int(self.labels.max()) < k):
            i = int(((self.labels < 0) | (self.labels >= k)).nonzero()[0, 0])
            raise DataUnavailableError(
                f"{name}: item {i} has label {int(self.labels[i])}, outside its {k} classes (0..{k - 1}): the labels "
                "are damaged. Replace the labels file with a good copy (for Fashion-MNIST: sudo apt-get install "
                "--reinstall dataset-fashion-mnist); a dataset's classes never come from its largest label.")

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
    """An IDX file (gzipped or not) as an array; a damaged file raises DataUnavailableError naming it.

    The header promises the size; no more than that is ever read (a gzip that expands beyond it is
    refused after reading the promised bytes + 1, never decompressed whole), and an empty file of
    images (0 items) is refused here rather than as an odd batch-size error later."""
    fix = (f"The file {path} is damaged (a partial download?). Delete it so it is downloaded again, or "
           "replace it with a good copy (for Fashion-MNIST: sudo apt-get install --reinstall dataset-fashion-mnist).")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4:
                raise DataUnavailableError(f"{path} is too short to be an IDX file. {fix}")
            magic = int.from_bytes(head, "big")
            ndim = magic & 0xFF
            if (magic >> 8) != 0x08 or ndim not in (1, 3):  # 0x08 = unsigned byte; labels 1-D, images 3-D
                raise DataUnavailableError(f"{path} is not an unsigned-byte IDX file of images or labels "
                                           f"(magic number {magic:#010x}). {fix}")
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise DataUnavailableError(f"{path} is too short to be an IDX file. {fix}")
            dims = [int.from_bytes(raw_dims[4 * i: 4 * i + 4], "big") for i in range(ndim)]
            expected = math.prod(dims)                      # Python ints: no overflow, whatever the header says
            free = available_memory()
            if free is not None and expected > free // 2:
                raise DataUnavailableError(f"{path}: its header promises {expected:,} bytes (dims {dims}), more than "
                                           f"this machine's free memory. {fix}")
            chunks, got = [], 0
            while got <= expected:                          # read at most the promised size + 1 byte
                chunk = f.read(min(1 << 22, expected + 1 - got))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
    except DataUnavailableError:
        raise
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataUnavailableError(f"cannot read {path} ({type(e).__name__}: {e}). {fix}") from None
    if got != expected:
        size = 4 + 4 * ndim + expected
        held = f"more than {size}" if got > expected else f"{4 + 4 * ndim + got}"
        raise DataUnavailableError(f"{path} holds {held} bytes where its header promises {size} (dims {dims}). {fix}")
    if dims[0] == 0:
        raise DataUnavailableError(f"{path} holds no {'images' if ndim == 3 else 'labels'} (its header says 0). {fix}")
    arr = np.frombuffer(b"".join(chunks), dtype=np.uint8)
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
        if (img is None) != (lab is None):               # half a split: say so, never fall back to another copy
            have, missing = (img, "labels") if lab is None else (lab, "images")
            raise DataUnavailableError(
                f"{d} holds {have.name} but not the {missing} file of the same split "
                f"({prefix}-{missing}-idx{'1' if missing == 'labels' else '3'}-ubyte[.gz]): copy it there too, or "
                "remove the folder (or unset GAN_COURSE_DATA) to use another copy of the dataset.")
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
                 download: bool | None = None, channels: int | None = None) -> ImageDataset:
    """Load ``"fashion-mnist"``, ``"mnist"``, ``"cifar10"`` or ``"folder:PATH"`` as an :class:`ImageDataset`.

    Items are ``(image, label)`` with ``image`` a float tensor ``(C, H, W)`` **in [-1, 1]** (the
    tanh range of the generators). ``image_size`` pads/resizes the native 28x28 (or 32x32) images
    to 32 or 64. ``download=None`` downloads only when files are missing and the network is
    allowed (``GAN_COURSE_OFFLINE`` unset).

    ``"folder:PATH"``: your own PNG/JPEG images, see :func:`load_image_folder` (``channels`` 1 or 3,
    default 3; ``image_size`` crops and resizes them). The named datasets bring their own channels.
    ``"paired:PATH"`` / ``"unpaired:PATH"``: two folders PATH/A and PATH/B for translation, returned
    as a :class:`TwoDomainData` (:func:`load_two_domains`).

    Raises ``ValueError`` for an unknown name and :class:`DataUnavailableError` (with the fixes
    spelled out) when the data is neither on disk nor downloadable.
    """
    if isinstance(name, str) and name.startswith((PAIRED_PREFIX, UNPAIRED_PREFIX)):
        if not train:
            raise ConfigError(f"{name!r} is a pair of image folders: it has no test split (train=False)")
        paired = name.startswith(PAIRED_PREFIX)
        return load_two_domains(name.split(":", 1)[1], paired=paired, image_size=image_size,
                                channels=3 if channels is None else channels)
    if isinstance(name, str) and name.startswith(FOLDER_PREFIX):
        if not train:
            raise ConfigError(f"{name!r} is a folder of images: it has no test split (train=False)")
        return load_image_folder(name[len(FOLDER_PREFIX):], image_size=image_size,
                                 channels=3 if channels is None else channels)
    key = name.lower().replace("_", "-")
    key = {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10"}.get(key, key)
    if key not in DATASETS:
        raise ConfigError(f"Unknown dataset {name!r}. Valid names: {', '.join(DATASETS)}, folder:PATH (your own "
                          "images) (and, in configs and the CLI, 'synthetic': random colour blobs for tests)")
    root_path = Path(root) if root is not None else default_root()
    if download is None:
        download = downloads_allowed()

    found = _load_idx_pair(key, root_path, train) if key != "cifar10" else None
    # else torchvision: its own layout under root; it downloads only when allowed
    x, y = found if found is not None else _torchvision_download(key, root_path, train, download=download)
    if channels is not None and channels != x.shape[1]:
        raise ConfigError(f"{key} images have {x.shape[1]} channel(s), not channels={channels} (channels applies "
                          "to folder:PATH datasets)")
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
    return ImageDataset(x, y, "synthetic", classes=tuple(str(k) for k in range(10)))


# ---------------------------------------------------------------- your own images
FOLDER_PREFIX = "folder:"
#: the files read from a folder (lower-case suffixes; others, e.g. .txt or .gif, are left alone)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: where the decoded tensor of a folder is cached, inside the folder (hidden: never read as images)
FOLDER_CACHE = ".gan_course_cache"
_FOLDER_CACHE_FORMAT = 1


class ImageFolderError(DataUnavailableError):
    """A folder of images that cannot be used as it is (empty, unreadable files, mixed layout or sizes);
    the message names the files and says what to do."""


def _visible(p: Path) -> bool:
    return not p.name.startswith(".")          # .ipynb_checkpoints, .DS_Store, the cache folder


def _image_files(folder: Path) -> list:
    """Every PNG/JPEG file under ``folder`` (any depth), sorted by path; hidden files and folders skipped."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in filenames if not f.startswith(".") and f.lower().endswith(IMAGE_SUFFIXES)]
    return sorted(out)


def list_image_folder(root) -> tuple[list, list, tuple]:
    """``(files, labels, classes)`` of a folder, following torchvision's ``ImageFolder`` convention:
    images in sub-folders ``root/<class>/...`` are labelled by their sub-folder (classes sorted by
    name, numbered from 0); images directly in ``root`` (and no class sub-folders) form one class named
    after the folder. Raises :class:`ImageFolderError` for a folder without images, for images both
    directly in ``root`` and in sub-folders, and for a class sub-folder without images."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ImageFolderError(f"{root} is not a folder{' (it is a file)' if root.exists() else ' (it does not exist)'}"
                               ": dataset='folder:PATH' needs a folder of .png/.jpg/.jpeg images")
    # not p.is_dir() rather than p.is_file(): a dangling symlink is listed, so the decoder names it as unreadable
    top = sorted(p for p in root.iterdir() if _visible(p) and not p.is_dir() and p.suffix.lower() in IMAGE_SUFFIXES)
    subdirs = sorted(p for p in root.iterdir() if _visible(p) and p.is_dir())
    per_class = {d.name: _image_files(d) for d in subdirs}
    with_images = [d for d, f in per_class.items() if f]
    if top and with_images:
        raise ImageFolderError(f"{root} has images both directly inside it ({top[0].name}, ...) and in sub-folders "
                               f"({with_images[0]}/, ...): either put every image in a class sub-folder "
                               f"({root}/<class>/image.png), or none of them (one class).")
    if with_images:
        empty = [d for d, f in per_class.items() if not f]
        if empty:
            raise ImageFolderError(f"the class folder(s) {', '.join(sorted(empty))} in {root} hold no .png/.jpg/.jpeg "
                                   "image: add images or remove the folder (every sub-folder is a class).")
        classes = tuple(sorted(per_class))
        files, labels = [], []
        for k, c in enumerate(classes):
            files += per_class[c]
            labels += [k] * len(per_class[c])
        return files, labels, classes
    if top:
        return top, [0] * len(top), (root.name,)
    others = sorted(p.suffix.lower() or p.name for p in root.rglob("*") if p.is_file() and _visible(p))
    found = f" (found {len(others)} other file(s): {', '.join(sorted(set(others))[:5])})" if others else ""
    raise ImageFolderError(f"{root} holds no .png, .jpg or .jpeg image, neither directly nor in class "
                           f"sub-folders{found}. Put your images there (convert other formats to PNG first).")


def _fingerprint(root: Path, files: list, image_size, channels: int) -> str:
    """A digest of what the cached tensor depends on: every file's path, size and modification time."""
    import hashlib

    h = hashlib.sha1(f"v{_FOLDER_CACHE_FORMAT} {image_size} {channels}\n".encode())
    for f in files:
        try:
            st = f.stat()
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:                        # a dangling link: the decoder names it among the unreadable files
            size = mtime = -1
        # os.fsencode: a file name that is not valid UTF-8 (surrogate-escaped by Python) is hashed as its bytes
        h.update(os.fsencode(str(f.relative_to(root))) + f"\t{size}\t{mtime}\n".encode())
    return h.hexdigest()[:16]


def _decode_image(path: Path, image_size, channels: int):
    """One file as a uint8 array ``(C, S, S)`` (or its native size without ``image_size``): orientation
    from EXIF applied, transparency flattened onto white, converted to grey ("L", ITU-R 601 luma) or
    RGB, the largest centred square cropped and resized (bicubic, antialiased when shrinking)."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        if image_size is not None and img.format == "JPEG":
            img.draft(img.mode, (image_size, image_size))      # decode large JPEGs at a reduced scale (>= the target)
        img.load()                                             # decode now: a truncated file fails here
        img = ImageOps.exif_transpose(img)
        native = img.size
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):      # 16-bit grey: rescale to 8 bits, not clip
            a = np.asarray(img, dtype=np.float64)
            img = Image.fromarray(np.clip(a / (65535.0 if a.max() > 255 else 1.0) * 255.0, 0, 255).astype(np.uint8))
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        img = img.convert("L" if channels == 1 else "RGB")
        if image_size is not None:
            w, h = img.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            img = img.crop((left, top, left + side, top + side)).resize((image_size, image_size),
                                                                       Image.Resampling.BICUBIC)
        a = np.asarray(img, dtype=np.uint8)
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)       # (H, W) -> (1, H, W); (H, W, 3) -> (3, H, W)
    return np.ascontiguousarray(a), native


def load_image_folder(path, image_size: int | None = None, channels: int = 3, cache: bool = True,
                      progress: bool = True) -> ImageDataset:
    """Your own images as an :class:`ImageDataset` (``load_dataset("folder:PATH", ...)``; notebook 09).

    Reads every ``.png``, ``.jpg`` and ``.jpeg`` file in ``path`` (hidden files and folders skipped),
    labelled by class sub-folder as torchvision's ``ImageFolder`` does (:func:`list_image_folder`).
    Each image is turned upright (EXIF), its transparency flattened onto white, converted to
    ``channels`` (1: grey, 3: RGB), cropped to its largest centred square and resized to
    ``image_size`` (32 or 64 for the course's models), then stored as uint8 like every dataset here.
    Images of mixed sizes are fine with ``image_size`` (each is cropped and resized on its own);
    with ``image_size=None`` every image must already have one square size.

    The decoded tensor is cached next to the data, in ``path/.gan_course_cache/``, keyed by every
    file's name, size and modification time, the size and the channels: the second load reads one file
    (and a changed folder is decoded again). A read-only folder caches in ``cache_dir("folders")``.

    Errors (:class:`ImageFolderError`, one message each, the files named): a missing or empty folder,
    images both in ``path`` and in sub-folders, an empty class folder, **unreadable files** (not
    images, truncated, or in a format Pillow cannot decode: loading **stops** and lists them, so
    that nothing is silently left out; delete or fix them) and, without ``image_size``, mixed sizes.
    """
    import hashlib
    import warnings

    from tqdm.auto import tqdm

    if channels not in (1, 3):
        raise ConfigError(f"channels={channels!r}: use 1 (grey) or 3 (RGB)")
    if image_size is not None and (not isinstance(image_size, int) or isinstance(image_size, bool)
                                   or not 8 <= image_size <= 256):
        raise ConfigError(f"image_size={image_size!r}: a whole number from 8 to 256 (the course's models take 32 or 64)")
    root = Path(path).expanduser().resolve()
    files, labels, classes = list_image_folder(root)
    name = f"{FOLDER_PREFIX}{root}"
    digest = _fingerprint(root, files, image_size, channels)
    stem = f"{image_size or 'native'}px_{channels}ch_"
    cache_file = root / FOLDER_CACHE / f"{stem}{digest}.pt"
    if not os.access(root, os.W_OK):                           # a read-only folder: the user cache instead
        cache_file = cache_dir("folders") / f"{hashlib.sha1(str(root).encode()).hexdigest()[:12]}_{stem}{digest}.pt"
    if cache and cache_file.is_file():
        try:
            blob = torch.load(cache_file, weights_only=True)
            if blob.get("format") == _FOLDER_CACHE_FORMAT and len(blob["images"]) == len(files):
                return ImageDataset(blob["images"], blob["labels"], name, blob["classes"])
        except Exception:  # noqa: BLE001 - a damaged cache is rebuilt, never trusted
            pass

    arrays, bad, sizes = [], [], {}
    for f in tqdm(files, desc=f"decoding {root.name}", unit="img", disable=not progress or len(files) < 200):
        try:
            a, native = _decode_image(f, image_size, channels)
        except Exception as e:  # noqa: BLE001 - PIL raises OSError, ValueError, SyntaxError, DecompressionBombError...
            bad.append(f"{f.relative_to(root)} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
            continue
        arrays.append(a)
        sizes.setdefault(native, f)
    if bad:
        shown = "\n  ".join(bad[:10]) + (f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise ImageFolderError(f"{len(bad)} of the {len(files)} image files in {root} cannot be read, so loading "
                               f"stopped (nothing is skipped silently):\n  {shown}\nDelete them, or re-save them as "
                               "PNG or JPEG, then load the folder again.")
    if image_size is None:
        shapes = {a.shape[1:] for a in arrays}
        if len(shapes) > 1 or any(h != w for h, w in shapes):
            (s1, f1), (s2, f2) = (list(sizes.items()) * 2)[:2]
            what = (f"mixed sizes: {f1.relative_to(root)} is {s1[0]}x{s1[1]}, {f2.relative_to(root)} is "
                    f"{s2[0]}x{s2[1]} ({len(sizes)} sizes in all)" if len(shapes) > 1
                    else f"non-square images ({f1.relative_to(root)} is {s1[0]}x{s1[1]})")
            raise ImageFolderError(f"{root} has {what}. Pass image_size=32 or 64 (--image-size): every image is "
                                   "then cropped to its centred square and resized.")
    else:
        small = [f for s, f in sizes.items() if min(s) < image_size]
        if small:
            warnings.warn(f"some images in {root} are smaller than {image_size}x{image_size} (e.g. {small[0].name}) "
                          "and were enlarged: expect blurry training images", stacklevel=2)
    images = torch.from_numpy(np.stack(arrays))                 # (N, C, S, S) uint8
    ds = ImageDataset(images, torch.tensor(labels, dtype=torch.long), name, classes)   # int64 labels: no overflow
    if cache:
        from .runtime import atomic_write

        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            prefix = cache_file.name[:-len(f"{digest}.pt")]
            for old in cache_file.parent.glob(f"{prefix}*.pt"):  # an older version of this folder at this size
                old.unlink()
            blob = {"format": _FOLDER_CACHE_FORMAT, "images": images, "labels": ds.labels, "classes": list(classes)}
            atomic_write(cache_file, lambda fh: torch.save(blob, fh))
        except OSError as e:
            warnings.warn(f"could not write the cache {cache_file} ({e}); the folder will be decoded again next time",
                          stacklevel=2)
    return ds


# ---------------------------------------------------------------- two domains (image-to-image translation)
PAIRED_PREFIX, UNPAIRED_PREFIX = "paired:", "unpaired:"
#: the two sub-folders of a paired:/unpaired: dataset: the translator's inputs (A) and outputs (B)
DOMAINS = ("A", "B")


class TwoDomainData:
    """Images of two domains for translation (notebooks/11_image_to_image.ipynb): ``A`` (e.g. edge maps)
    and ``B`` (e.g. garments), two :class:`ImageDataset` of the same image shape. ``paired=True``:
    ``A[i]`` and ``B[i]`` belong together (pix2pix trains on the pairs); ``False``: two unrelated
    collections, possibly of different sizes (CycleGAN). ``keys``: the pairs' common names (paired
    folders) or ``()``."""

    def __init__(self, A: ImageDataset, B: ImageDataset, paired: bool, name: str, keys=()):
        if A.image_shape[1:] != B.image_shape[1:]:
            raise ImageFolderError(f"{name}: the A images are {A.image_shape[1]}x{A.image_shape[2]} and the B images "
                                   f"{B.image_shape[1]}x{B.image_shape[2]}; pass image_size (--image-size) so both "
                                   "are cropped and resized to one size.")
        if paired and len(A) != len(B):
            raise ValueError(f"{name}: paired data needs as many A as B images, got {len(A)} and {len(B)}")
        self.A, self.B, self.paired, self.name, self.keys = A, B, bool(paired), name, tuple(keys)

    @property
    def image_size(self) -> int:
        return int(self.A.images.shape[-1])

    def __repr__(self) -> str:
        kind = "paired" if self.paired else "unpaired"
        return (f"TwoDomainData({self.name!r}, {kind}, A: {len(self.A)} x {self.A.image_shape}, "
                f"B: {len(self.B)} x {self.B.image_shape}, range=[-1, 1])")


def _pair_key(path: Path, side: Path) -> str:
    """The name that pairs two files: the path inside A/ or B/ without its suffix (a.png pairs b/a.jpg)."""
    return path.relative_to(side).with_suffix("").as_posix()


def load_two_domains(path, paired: bool, image_size: int | None = None, channels: int = 3, cache: bool = True,
                     progress: bool = True) -> TwoDomainData:
    """``PATH/A`` and ``PATH/B`` as a :class:`TwoDomainData` (``load_dataset("paired:PATH")`` and
    ``load_dataset("unpaired:PATH")``; notebook 11). Each side is read by :func:`load_image_folder`:
    the same formats, ``image_size`` (crop and resize), ``channels`` (1 grey, 3 RGB, both sides), cache
    and errors (unreadable files are listed and loading stops).

    ``paired=True``: files with the same name (path inside A/ or B/, suffix ignored: ``A/001.png`` pairs
    ``B/001.jpg``) form a pair, and B is put in A's order. Errors (:class:`ImageFolderError`, one
    message naming the folder and the fix): PATH not a folder, a missing A/ or B/, a side without images,
    two files of one name on one side, and (paired) names found on one side only, the first few listed.
    """
    root = Path(path).expanduser().resolve()
    prefix = PAIRED_PREFIX if paired else UNPAIRED_PREFIX
    layout = (f"{prefix}PATH is a folder with two sub-folders, PATH/A (the inputs) and PATH/B (the outputs)"
              + (", where files of the same name form a pair" if paired else ", any images in each"))
    if not root.is_dir():
        raise ImageFolderError(f"{root} is not a folder{' (it is a file)' if root.exists() else ' (it does not exist)'}: "
                               f"{layout}.")
    missing = [d for d in DOMAINS if not (root / d).is_dir()]
    if missing:
        found = sorted(p.name + "/" for p in root.iterdir() if p.is_dir() and _visible(p))
        raise ImageFolderError(f"{root} has no {' and no '.join(m + '/' for m in missing)} sub-folder"
                               f"{' (found: ' + ', '.join(found[:5]) + ')' if found else ''}: {layout}. "
                               f"Create {root / missing[0]} and put the {'input' if missing[0] == 'A' else 'output'} "
                               "images there (the names A and B are case-sensitive).")
    files = {}
    for d in DOMAINS:
        files[d] = _image_files(root / d)
        if not files[d]:
            raise ImageFolderError(f"{root / d} holds no .png, .jpg or .jpeg image: put the "
                                   f"{'input' if d == 'A' else 'output'} images of your {prefix} dataset there "
                                   "(convert other formats to PNG first).")
        keys = [_pair_key(f, root / d) for f in files[d]]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ImageFolderError(f"{root / d} has several files named {dup[0]!r} (different suffixes): "
                                   f"{', '.join(f.name for f in files[d] if _pair_key(f, root / d) == dup[0])}. "
                                   "Keep one of them (names identify images, and pairs in paired: data).")
    keys = {}
    if paired:                                  # the pairing, checked before anything is decoded
        for d in DOMAINS:
            keys[d] = [_pair_key(f, root / d) for f in list_image_folder(root / d)[0]]
        only_a, only_b = sorted(set(keys["A"]) - set(keys["B"])), sorted(set(keys["B"]) - set(keys["A"]))
        if only_a or only_b:
            def few(names):
                return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            lines = ([f"only in A/ ({len(only_a)}): {few(only_a)}"] if only_a else []) + \
                    ([f"only in B/ ({len(only_b)}): {few(only_b)}"] if only_b else [])
            raise ImageFolderError(f"{root}: a paired dataset needs every file in A/ to have a file of the same name "
                                   f"in B/ and the other way round, and some do not:\n  " + "\n  ".join(lines) +
                                   f"\nRename or remove them, or use {UNPAIRED_PREFIX}{root} (CycleGAN) if the "
                                   "images are not pairs.")
    sides = {d: load_image_folder(root / d, image_size=image_size, channels=channels, cache=cache, progress=progress)
             for d in DOMAINS}
    A, B = sides["A"], sides["B"]
    name = f"{prefix}{root}"
    A.name, B.name = f"{name}/A", f"{name}/B"
    if paired:                                  # put B in A's order: image i of both is one pair
        where = {k: i for i, k in enumerate(keys["B"])}
        order = torch.tensor([where[k] for k in keys["A"]], dtype=torch.long)
        B = ImageDataset(B.images[order], B.labels[order], B.name, B.classes)
    return TwoDomainData(A, B, paired, name, keys=keys.get("A", ()))


# ---------------------------------------------------------------- in-memory loader
class InMemoryLoader:
    """The whole dataset as one tensor on ``device``; batches by indexing, no DataLoader workers.

    Reshuffled every epoch with a permutation drawn from its own generator seeded by
    ``(seed, epoch)``, so the batch order is reproducible and resumable: ``state_dict()`` is just
    ``(epoch, position)``. Yields float batches ``(B, C, H, W)`` in [-1, 1] (labels with
    ``with_labels=True``). Iteration is endless; use :meth:`epoch_batches` for one pass.

    Under ``torchrun`` (:mod:`gan_utils.distributed`) each process keeps its own shard of every
    batch, :meth:`shard`: ``batch_size`` stays the *global* batch, all processes together.
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
        if self.batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r} must be at least 1")
        if self.batch_size > self.n and drop_last:
            raise ConfigError(f"batch_size={batch_size} is larger than the dataset ({self.name}: {self.n} images): use "
                              f"--batch-size {self.n} or less{', or add images' if self.n else ''}")
        self.drop_last = drop_last
        self.with_labels = with_labels
        self.seed = seed
        self.epoch = 0
        self.position = 0
        self._perm = None
        self.rank, self.world_size = 0, 1           # one process: the whole batch (see shard)

    def shard(self, rank: int, world_size: int) -> "InMemoryLoader":
        """Make this the loader of process ``rank`` of ``world_size`` (torchrun) and return it.

        Every process draws the same permutation each epoch (it depends on ``seed`` and the epoch
        only) and the same global batch of ``batch_size`` images from it, and keeps its own
        consecutive ``batch_size // world_size`` of them. So the shards of a batch are disjoint,
        together they are exactly the batch one process would draw, an epoch covers the data as in
        one process, and ``state_dict()`` (the same on every rank) resumes under any number of
        processes. ``batch_size`` must be a multiple of ``world_size``.
        """
        if not (isinstance(world_size, int) and world_size >= 1 and isinstance(rank, int) and 0 <= rank < world_size):
            raise ValueError(f"shard(rank={rank!r}, world_size={world_size!r}): need 0 <= rank < world_size")
        if self.batch_size % world_size:
            raise ConfigError(f"batch_size={self.batch_size} is the global batch (all {world_size} processes together) "
                              f"and must be a multiple of {world_size}: use e.g. "
                              f"{max(world_size, self.batch_size // world_size * world_size)} or "
                              f"{(self.batch_size // world_size + 1) * world_size}.")
        if not self.drop_last and world_size > 1:
            raise ConfigError("a sharded InMemoryLoader needs drop_last=True (a last, smaller batch cannot be split "
                              "evenly between the processes)")
        self.rank, self.world_size = rank, world_size
        return self

    @property
    def local_batch_size(self) -> int:
        """Images per batch that this process yields: ``batch_size // world_size``."""
        return self.batch_size // self.world_size

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
        if self.world_size > 1:                     # this process's consecutive slice of the global batch
            b = self.batch_size // self.world_size
            idx = idx[self.rank * b:(self.rank + 1) * b]
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
