"""Checks for the exercises of notebooks/00_setup.ipynb (references in :mod:`gan_utils.data` and
:mod:`gan_utils.plots`; solutions in solutions/00_setup.py).

Each ``check_*`` runs the learner's function on seeded random inputs and checks what it *returns*:
it prints "not attempted yet" and returns ``False`` while the stub still raises
``NotImplementedError``, raises ``AssertionError`` saying what is wrong on a wrong answer, and
prints a confirmation and returns ``True`` on a right one.
"""
from __future__ import annotations

import torch

from .. import data

__all__ = ["check_to_tanh_range", "check_to_display", "check_epoch_batches"]


from ._common import _NotAttempted, _call, _fail, _not_attempted  # noqa: F401  (shared check helpers)


def _random_u8(gen: torch.Generator, n: int, c: int, h: int) -> torch.Tensor:
    x = torch.randint(0, 256, (n, c, h, h), generator=gen, dtype=torch.uint8)
    x.view(-1)[0], x.view(-1)[-1] = 0, 255  # both ends of the range are always present
    return x


def _image_op(name: str, fn, x: torch.Tensor, in_place_why: str) -> torch.Tensor:
    """Call ``fn(x)`` and check what every image transform owes its caller: a tensor back, the
    input untouched, the shape kept."""
    before = x.clone()
    got = _call(fn, x)
    if not isinstance(got, torch.Tensor):
        _fail(f"{name} should return a torch.Tensor, got {type(got).__name__}")
    if not torch.equal(x, before):
        _fail(f"{name} changed its input in place: {in_place_why}")
    if got.shape != x.shape:
        _fail(f"{name} returned shape {tuple(got.shape)} for input {tuple(x.shape)}: keep (N, C, H, W)")
    return got


# ---------------------------------------------------------------- exercise 1: uint8 -> [-1, 1]
def check_to_tanh_range(fn, n_trials: int = 10, seed: int = 0) -> bool:
    """``fn(x_u8)`` must map uint8 images in [0, 255] to float32 in [-1, 1] (0 -> -1, 255 -> +1),
    linearly, keeping the shape and leaving its input unchanged (reference: ``data.to_float``)."""
    name = "to_tanh_range"
    gen = torch.Generator().manual_seed(seed)
    try:
        for trial in range(n_trials):
            shape = (int(torch.randint(1, 9, (1,), generator=gen)), 1 if trial % 2 else 3, 28 if trial % 3 else 32)
            x = _random_u8(gen, *shape)
            got = _image_op(name, fn, x, "the dataset's stored images would be corrupted. Convert first "
                                         "(x.float()), then scale the copy.")
            if not got.is_floating_point():
                _fail(f"{name} returned dtype {got.dtype}: integer arithmetic cannot hold values in "
                      "[-1, 1]. Convert with .float() before dividing.")
            want = data.to_float(x)
            if torch.allclose(got.double(), want.double(), atol=1e-6):
                continue
            lo, hi = float(got.min()), float(got.max())
            if abs(lo) < 1e-6 and abs(hi - 1) < 1e-6:
                _fail(f"{name}: your images are in [0, 1] (x / 255). The generator ends in tanh, so its "
                      "images are in [-1, 1]; real images in [0, 1] let D tell them apart by range alone. "
                      "Map 0 -> -1 and 255 -> +1.")
            if abs(lo) < 1e-6 and abs(hi - 2) < 1e-6:
                _fail(f"{name}: your images are in [0, 2]: you divided by 127.5 but forgot to subtract 1.")
            _fail(f"{name}: got values in [{lo:.3g}, {hi:.3g}], expected [-1, 1] with 0 -> -1, "
                  "128 -> 0.0039, 255 -> +1 (x / 127.5 - 1).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct. uint8 [0, 255] -> float [-1, 1], the range of the generator's tanh.")
    return True


# ---------------------------------------------------------------- exercise 2: [-1, 1] -> [0, 1] for display
def check_to_display(fn, n_trials: int = 10, seed: int = 0) -> bool:
    """``fn(x)`` must map float images in [-1, 1] to [0, 1] for ``plt.imshow``: (x + 1) / 2, with
    values outside [-1, 1] clamped (a generator's raw output, or an interpolated image, can step
    outside slightly), shape kept (reference: ``plots.image_grid``'s normalisation)."""
    name = "to_display"
    gen = torch.Generator().manual_seed(seed)
    try:
        for trial in range(n_trials):
            x_u8 = _random_u8(gen, 4, 1 if trial % 2 else 3, 28)
            x = data.to_float(x_u8)
            if trial >= n_trials // 2:  # values outside the range, as an unclamped model could produce
                x = x * 1.2 + 0.1 * torch.randn(x.shape, generator=gen)
            got = _image_op(name, fn, x, "the caller's images would change under it. Work on a copy "
                                         "((x + 1) / 2 makes one).")
            want = ((x + 1) / 2).clamp(0, 1)
            if torch.allclose(got.double(), want.double(), atol=1e-6):
                continue
            unclamped = (x + 1) / 2
            if torch.allclose(got.double(), unclamped.double(), atol=1e-6):
                _fail(f"{name}: right inside [-1, 1], but values outside are not clamped (got a range "
                      f"[{float(got.min()):.3f}, {float(got.max()):.3f}]). imshow would clip them with a "
                      "warning, or rescale the whole image if you let it; clamp to [0, 1].")
            if torch.allclose(got.double(), x.clamp(0, 1).double(), atol=1e-6):
                _fail(f"{name}: you clamped [-1, 1] to [0, 1] without shifting: every dark pixel (x < 0) "
                      "becomes black. Shift and scale first: (x + 1) / 2.")
            _fail(f"{name}: wrong values, e.g. x = {float(x.flatten()[0]):.3f} gave {float(got.flatten()[0]):.3f}, "
                  f"expected {float(want.flatten()[0]):.3f}. Use ((x + 1) / 2).clamp(0, 1).")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct. [-1, 1] -> [0, 1], clamped; 0 maps to mid-grey.")
    return True


# ---------------------------------------------------------------- exercise 3: one epoch of shuffled batches
def check_epoch_batches(fn, seed: int = 0) -> bool:
    """``fn(n, batch_size, seed, epoch)`` must return a list of 1-D int64 index tensors: the
    ``n // batch_size`` full batches of a random permutation of ``range(n)`` (the incomplete last
    batch dropped, as a GAN's BatchNorm wants full batches), the same for the same
    ``(seed, epoch)``, a different order for another epoch or another seed, and without touching
    the global random stream (so the training run that follows is unchanged). What
    ``gan_utils.data.InMemoryLoader`` does every epoch."""
    name = "epoch_batches"
    cases = [(10, 3), (64, 8), (1000, 128), (257, 64), (5, 5)]
    try:
        global_before = torch.get_rng_state()
        for n, bs in cases:
            for s in (seed, seed + 1):
                for epoch in (0, 1):
                    out = _call(fn, n, bs, s, epoch)
                    try:
                        batches = list(out)
                    except TypeError:
                        _fail(f"{name} should return a list of index tensors, got {type(out).__name__}")
                    if len(batches) != n // bs:
                        extra = " (the incomplete last batch must be dropped)" if len(batches) == -(-n // bs) else ""
                        _fail(f"{name}({n}, {bs}, ...) returned {len(batches)} batches, expected "
                              f"n // batch_size = {n // bs}{extra}")
                    for b in batches:
                        if not isinstance(b, torch.Tensor) or b.dim() != 1 or b.dtype != torch.int64:
                            _fail(f"{name}: each batch must be a 1-D int64 tensor of indices "
                                  f"(torch.randperm gives one), got {getattr(b, 'dtype', type(b).__name__)}")
                        if len(b) != bs:
                            _fail(f"{name}({n}, {bs}, ...): a batch has {len(b)} indices, expected {bs}")
                    flat = torch.cat(batches) if batches else torch.empty(0, dtype=torch.int64)
                    if len(flat) and (flat.min() < 0 or flat.max() >= n):
                        _fail(f"{name}({n}, {bs}, ...): index out of range [0, {n})")
                    if len(torch.unique(flat)) != len(flat):
                        _fail(f"{name}({n}, {bs}, ...): an index appears twice in one epoch. Sampling with "
                              "replacement (randint) shows some images twice and others never; use a "
                              "permutation (torch.randperm).")
                    again = [b.clone() for b in _call(fn, n, bs, s, epoch)]
                    if len(again) != len(batches) or not all(torch.equal(a, b) for a, b in zip(again, batches)):
                        _fail(f"{name}: two calls with the same (seed={s}, epoch={epoch}) gave different "
                              "batches, so a resumed run would see other data. Draw the permutation from a "
                              "torch.Generator seeded from (seed, epoch).")
            if n >= 64:
                first = torch.cat(list(_call(fn, n, bs, seed, 0)))
                if torch.equal(first, torch.arange(len(first))):
                    _fail(f"{name}: the indices are in order 0, 1, 2, ...: not shuffled. Neighbouring "
                          "images of a dataset are often alike (sorted by class, say), so D would see "
                          "biased batches.")
                if torch.equal(first, torch.cat(list(_call(fn, n, bs, seed, 1)))):
                    _fail(f"{name}: epochs 0 and 1 give the same order. Reshuffle every epoch: seed the "
                          "generator with something that depends on the epoch too.")
                if torch.equal(first, torch.cat(list(_call(fn, n, bs, seed + 1, 0)))):
                    _fail(f"{name}: seeds {seed} and {seed + 1} give the same order: the seed is ignored.")
        if not torch.equal(torch.get_rng_state(), global_before):
            _fail(f"{name} consumed the global random stream (torch.manual_seed / torch.randperm without "
                  "a generator): the training run after it would change. Use a torch.Generator of your own.")
    except _NotAttempted:
        return _not_attempted(name)
    print(f"{name}: correct. Every image once per epoch, a new order each epoch, reproducible from (seed, epoch).")
    return True
