"""Reference solutions to the exercises of notebooks/00_setup.ipynb.

Each function has the name and signature of the notebook's stub; paste it over the stub (or
``%run ../solutions/00_setup.py`` in the notebook) and its check passes.
tests/test_exercises_nb00.py runs every one of them through its check in CI.
"""
import torch


def to_tanh_range(x_u8):
    """Exercise 1: uint8 [0, 255] -> float32 [-1, 1]: 0 -> -1, 255 -> +1."""
    return x_u8.float() / 127.5 - 1.0          # .float() first: uint8 arithmetic would truncate


def to_display(x):
    """Exercise 2: float [-1, 1] -> [0, 1] for plt.imshow, out-of-range values clamped."""
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


def epoch_batches(n, batch_size, seed, epoch):
    """Exercise 3: the full batches of one epoch of a permutation drawn from (seed, epoch).

    A private generator keeps the global random stream untouched; mixing the epoch into its seed
    gives a new order every epoch that a resumed run can reproduce.
    """
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g)                     # every index exactly once
    n_full = n // batch_size                                  # drop the incomplete last batch
    return [perm[i * batch_size:(i + 1) * batch_size] for i in range(n_full)]
