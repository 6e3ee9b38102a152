"""A small domain classifier for 28x28 grey images, the offline feature extractor of
notebooks/06_evaluation.ipynb.

Why it exists: FID (Heusel et al. 2017) is defined on Inception-v3 pool features, and the
Inception weights have to be downloaded. Offline, and for 28x28 grey images where Inception sees
a blurry 299x299 upsampling anyway, a classifier trained on the dataset itself gives features
that know what a sneaker or a "7" looks like. Distances on these features are **not FID** and
are reported as ``FD-classifier`` (see :mod:`gan_utils.metrics.fid`); their numbers are only
comparable with other FD-classifier numbers computed with the same weights.

The network (357k parameters, 1.4 MB as float32)::

    (1, 28, 28) --pixel_unshuffle(2)--> (4, 14, 14)       lossless space-to-depth, cheap on CPU
    conv3x3  4 -> 32,           BN, ReLU   (32, 14, 14)
    conv3x3 32 -> 64, stride 2, BN, ReLU   (64, 7, 7)
    conv3x3 64 -> 128, stride 2, BN, ReLU  (128, 4, 4)
    flatten 2048 -> linear 128, BN, ReLU   (128,)   <- the features (penultimate layer)
    dropout 0.2, linear 128 -> 10          logits

Inputs are images in [-1, 1] shaped ``(B, 1, 28, 28)``. ``(B, 1, 32, 32)`` inputs (Fashion-MNIST
padded to 32 by :func:`gan_utils.data.resize_images`) are **center-cropped** back to 28x28, the
exact inverse of that padding; any other size is resized to 28x28 bilinearly (antialiased when
shrinking).

Training (:func:`train_classifier`, also ``python -m gan_utils.metrics.classifier``): Adam with a
one-cycle learning-rate schedule (peak 3e-3), batch 128, 6 epochs, light augmentation (random
horizontal flips for Fashion-MNIST only, since a mirrored digit is another symbol; optional random
shifts, off by default: at 6 epochs they cost ~1 point of accuracy), single CPU thread by default
so that runs repeat exactly. ~92 % test accuracy on Fashion-MNIST, ~3 minutes on 2 CPU cores. The shipped weights and how they were made are
described in ``gan_utils/weights/TRAINING.md``.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import load_dataset, to_float
from ..models import eval_mode
from ..runtime import UserError, atomic_write, cache_dir

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
#: dataset -> file name of its classifier weights (shipped in gan_utils/weights or in the cache)
WEIGHT_FILES = {"fashion-mnist": "fmnist_classifier.pt", "mnist": "mnist_classifier.pt"}
FORMAT_VERSION = 1


def _canonical(dataset: str) -> str:
    key = dataset.lower().replace("_", "-")
    return {"fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist"}.get(key, key)


def user_weights_dir() -> Path:
    """Where :func:`train_classifier` puts weights it trains for you (e.g. MNIST on Colab):
    ``$GAN_COURSE_CACHE/weights`` or ``~/.cache/gan_course/weights``."""
    return cache_dir("weights")


def to_28(x: torch.Tensor) -> torch.Tensor:
    """Bring ``(B, 1, H, W)`` images to 28x28: 32 -> 28 by center crop (undoing the 2-pixel
    padding of :func:`gan_utils.data.resize_images`), other sizes by bilinear resizing."""
    h, w = x.shape[-2:]
    if (h, w) == (28, 28):
        return x
    if (h, w) == (32, 32):
        return x[..., 2:30, 2:30]
    return F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False, antialias=h > 28)


class SmallClassifier(nn.Module):
    """The CNN described in the module docstring. ``features(x)`` is the 128-d penultimate layer."""

    def __init__(self, num_classes: int = 10, width: int = 32, feature_dim: int = 128, dropout: float = 0.2):
        super().__init__()
        self.config = {"num_classes": num_classes, "width": width, "feature_dim": feature_dim,
                       "dropout": dropout}
        w = width

        def block(cin, cout, stride):
            return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                    nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(*block(4, w, 1),            # (4, 14, 14) -> (w, 14, 14)
                                  *block(w, 2 * w, 2),        # -> (2w, 7, 7)
                                  *block(2 * w, 4 * w, 2))    # -> (4w, 4, 4)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(4 * w * 16, feature_dim, bias=False),
                                nn.BatchNorm1d(feature_dim), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))
        self.feature_dim = feature_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, H, W)`` in [-1, 1] -> ``(B, 128)`` penultimate activations (after ReLU)."""
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"the classifier takes grey images shaped (B, 1, H, W), got {tuple(x.shape)}; "
                             "for colour images use Inception features (features='inception')")
        x = F.pixel_unshuffle(to_28(x), 2)  # (B, 1, 28, 28) -> (B, 4, 14, 14)
        return self.fc(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)``."""
        return self.head(self.features(x))


# ---------------------------------------------------------------- save / load
def save_classifier(model: SmallClassifier, path, meta: dict | None = None) -> Path:
    """Save as a plain dict (tensors, str, numbers) that ``torch.load(weights_only=True)`` reads."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    blob = {"format": FORMAT_VERSION, "kind": "SmallClassifier", "config": dict(model.config),
            "state_dict": state, "meta": dict(meta or {})}
    return atomic_write(Path(path), lambda f: torch.save(blob, f))


def load_classifier(path, map_location="cpu") -> SmallClassifier:
    """Load weights written by :func:`save_classifier`; returns the model in eval mode, with the
    file's ``meta`` (training command, accuracy, ...) as ``model.meta``."""
    blob = torch.load(Path(path), map_location=map_location, weights_only=True)
    if blob.get("kind") != "SmallClassifier":
        raise ValueError(f"{path} is not a gan_utils classifier file")
    model = SmallClassifier(**blob["config"])
    model.load_state_dict(blob["state_dict"])
    model.meta = dict(blob.get("meta", {}))
    return model.eval()


def find_weights(dataset: str = "fashion-mnist") -> Path | None:
    """The weights file for ``dataset``: shipped in ``gan_utils/weights/`` or trained into
    :func:`user_weights_dir`; ``None`` when there is none yet."""
    name = WEIGHT_FILES.get(_canonical(dataset), f"{_canonical(dataset)}_classifier.pt")
    for d in (WEIGHTS_DIR, user_weights_dir()):
        if (d / name).is_file():
            return d / name
    return None


def file_digest(path) -> str:
    """First 12 hex digits of the file's SHA-256 (names the weights in cache keys)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


class ClassifierUnavailableError(UserError, FileNotFoundError):
    """No classifier weights for that dataset; the message says how to get them."""


def pretrained_classifier(dataset: str = "fashion-mnist") -> SmallClassifier:
    """Load the classifier for ``dataset``, or raise :class:`ClassifierUnavailableError` saying how
    to train it (grey 28x28 datasets only: Fashion-MNIST is shipped, MNIST is trained once)."""
    ds = _canonical(dataset)
    if ds not in WEIGHT_FILES:
        raise ClassifierUnavailableError(
            f"There is no classifier for {dataset!r}: FD-classifier exists for the grey 28x28 datasets "
            f"{', '.join(sorted(WEIGHT_FILES))}. For colour data (cifar10) use features='inception' (FID).")
    path = find_weights(dataset)
    if path is None:
        raise ClassifierUnavailableError(
            f"No classifier weights for {ds!r}. Train them once (a few minutes on a CPU, seconds on a GPU):\n"
            f"    from gan_utils.metrics.classifier import train_classifier\n"
            f"    train_classifier({ds!r})      # saves to {user_weights_dir() / WEIGHT_FILES.get(ds, ds + '_classifier.pt')}\n"
            f"or from a shell: python -m gan_utils.metrics.classifier --dataset {ds}")
    model = load_classifier(path)
    model.weights_path = path
    return model


# ---------------------------------------------------------------- training
@torch.no_grad()
def evaluate(model: nn.Module, dataset=None, batch_size: int = 1000, device="cpu") -> float:
    """Top-1 accuracy of ``model`` on an :class:`~gan_utils.data.ImageDataset` (default: the
    Fashion-MNIST test split)."""
    if dataset is None:
        dataset = load_dataset("fashion-mnist", train=False)
    model.to(device)
    correct = 0
    with eval_mode(model):
        for xb, yb in zip(dataset.images.split(batch_size), dataset.labels.split(batch_size)):
            logits = model(to_float(xb.to(device)))
            correct += (logits.argmax(1) == yb.to(device)).sum().item()
    return correct / len(dataset)


def _augment(x: torch.Tensor, g: torch.Generator, shift: int, hflip: bool) -> torch.Tensor:
    """Random shifts of up to ``shift`` pixels (zero = background padding) and optional flips."""
    b, _, h, w = x.shape
    if shift > 0:
        xp = F.pad(x, (shift,) * 4, value=-1.0)  # -1 is the black background in [-1, 1]
        oy = torch.randint(0, 2 * shift + 1, (b,), generator=g)
        ox = torch.randint(0, 2 * shift + 1, (b,), generator=g)
        rows = (oy[:, None] + torch.arange(h))[:, :, None]          # (B, H, 1)
        cols = (ox[:, None] + torch.arange(w))[:, None, :]          # (B, 1, W)
        x = xp[torch.arange(b)[:, None, None], 0, rows, cols].unsqueeze(1)
    if hflip:
        flip = torch.rand(b, generator=g) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{name}, {os.cpu_count()} logical CPUs"


def train_classifier(dataset: str = "fashion-mnist", epochs: int = 6, seed: int = 0, batch_size: int = 128,
                     lr: float = 3e-3, shift: int = 0, out=None, device="cpu", threads: int | None = 1,
                     n_train: int | None = None, progress: bool = True) -> tuple[SmallClassifier, dict]:
    """Train the :class:`SmallClassifier` on ``dataset``'s train split and save it.

    Returns ``(model, meta)``; ``meta`` holds the test accuracy, wall time, hardware and the
    command that reproduces the run. ``out`` defaults to ``user_weights_dir()/<dataset>_...pt``.
    ``n_train`` trains on the first n training images only (smoke runs and tests).
    ``threads=1`` (default, CPU only) makes the run bit-for-bit repeatable and is also the fastest
    setting on a CPU shared with other work; ``None`` keeps torch's thread count.
    """
    from tqdm.auto import tqdm

    ds_name = _canonical(dataset)
    out = Path(out) if out is not None else user_weights_dir() / WEIGHT_FILES.get(ds_name, f"{ds_name}_classifier.pt")
    device = torch.device(device)
    old_threads = torch.get_num_threads()
    if threads is not None and device.type == "cpu":
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        train = load_dataset(ds_name, train=True)
        if n_train is not None:
            train = type(train)(train.images[:n_train], train.labels[:n_train], train.name, train.classes)
        test = load_dataset(ds_name, train=False)
        model = SmallClassifier(num_classes=len(train.classes) or 10).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        n = len(train)
        steps_per_epoch = max(1, n // batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs,
                                                    steps_per_epoch=steps_per_epoch)
        hflip = ds_name == "fashion-mnist"
        t0 = time.perf_counter()
        history = []
        for epoch in range(epochs):
            model.train()
            perm = torch.randperm(n, generator=g)
            bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{epochs}", disable=not progress,
                       mininterval=5)
            total = 0.0
            for i in bar:
                idx = perm[i * batch_size:(i + 1) * batch_size]
                x = _augment(to_float(train.images[idx]), g, shift=shift, hflip=hflip).to(device)
                y = train.labels[idx].to(device)
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item()
                if i % 50 == 0:
                    bar.set_postfix(loss=f"{loss.item():.3f}")
            acc = evaluate(model, test, device=device)
            history.append({"epoch": epoch + 1, "train_loss": total / steps_per_epoch, "test_accuracy": acc})
            if progress:
                print(f"epoch {epoch + 1}: train loss {total / steps_per_epoch:.4f}, test accuracy {acc:.4f}",
                      flush=True)
        wall = time.perf_counter() - t0
        model.eval()
        meta = {
            "dataset": ds_name,
            "test_accuracy": history[-1]["test_accuracy"],
            "epochs": epochs, "seed": seed, "batch_size": batch_size, "lr": lr, "shift": shift,
            "train_seconds": round(wall, 1),
            "threads": torch.get_num_threads(),
            "device": str(device),
            "hardware": _hardware(device),
            "torch": str(torch.__version__),
            "python": platform.python_version(),
            "n_train": n,
            "command": (f"python -m gan_utils.metrics.classifier --dataset {ds_name} --epochs {epochs} "
                        f"--seed {seed} --batch-size {batch_size} --lr {lr} --shift {shift} "
                        + (f"--n-train {n_train} " if n_train is not None else "") + f"--out {out}"),
            "history": history,
        }
        save_classifier(model, out, meta)
        return model, meta
    finally:
        torch.set_num_threads(old_threads)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m gan_utils.metrics.classifier",
                                description="Train the small feature classifier used for FD-classifier.")
    p.add_argument("--dataset", default="fashion-mnist", choices=sorted(WEIGHT_FILES))
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--shift", type=int, default=0, help="max random shift in pixels (augmentation; 0: none)")
    p.add_argument("--n-train", type=int, default=None, help="use only the first N training images")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (0: torch's default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help="weights file (default: the user cache)")
    a = p.parse_args(argv)
    model, meta = train_classifier(a.dataset, epochs=a.epochs, seed=a.seed, batch_size=a.batch_size, lr=a.lr, shift=a.shift, n_train=a.n_train,
                                   out=a.out, device=a.device, threads=a.threads or None)
    out = a.out or user_weights_dir() / WEIGHT_FILES[a.dataset]
    size = Path(out).stat().st_size
    print(f"saved {out} ({size / 1e6:.2f} MB): test accuracy {meta['test_accuracy']:.4f}, "
          f"{meta['train_seconds']:.0f} s on {meta['hardware']} ({meta['threads']} thread(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
