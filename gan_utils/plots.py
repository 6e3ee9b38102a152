"""Figures used across the course: image grids, loss curves, samples over training.

First used in notebooks/00_setup.ipynb (grids) and 03_mlp_gan.ipynb (loss curves, samples over
time). Every figure has labelled axes and a title, sized to read on a lecture slide.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch


def image_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> an (H', W', C) numpy array in [0, 1] (or (H', W') for grey)."""
    from torchvision.utils import make_grid

    x = images.detach().float().cpu().clamp(-1, 1)
    nrow = nrow or int(math.ceil(math.sqrt(len(x))))
    g = make_grid(x, nrow=nrow, padding=pad, normalize=True, value_range=(-1, 1), pad_value=1.0)
    g = g.permute(1, 2, 0).numpy()  # (C, H', W') -> (H', W', C)
    return g[..., 0] if images.shape[1] == 1 else g


def show_images(images: torch.Tensor, nrow: int | None = None, title: str = "", ax=None, figsize=(6, 6)):
    """Show a batch of images in [-1, 1] as one grid."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    grid = image_grid(images, nrow)
    ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_title(title or f"{len(images)} images")
    ax.set_xlabel(f"{images.shape[-1]}x{images.shape[-2]} px, {nrow or int(math.ceil(math.sqrt(len(images))))} per row")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def smooth(values, window: int = 25) -> np.ndarray:
    """Moving average that keeps the length (for noisy per-step losses)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2 or window <= 1:
        return v
    window = min(window, len(v))
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, v[0]), v])
    return np.convolve(padded, kernel, mode="valid")


def plot_history(history: dict, title: str = "Training curves", window: int = 25, axes=None):
    """Two panels: loss_D and loss_G; D(x) and D(G(z)) (or critic scores for WGANs)."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(12, 4))
    steps = history.get("step", list(range(1, len(history["loss_D"]) + 1)))
    for k, label in (("loss_D", "D / critic loss"), ("loss_G", "G loss")):
        axes[0].plot(steps, smooth(history[k], window), label=label)
    axes[0].set_xlabel("generator step")
    axes[0].set_ylabel("loss (moving average)")
    axes[0].set_title(f"{title}: losses")
    axes[0].legend()
    if "D_x" in history:
        axes[1].plot(steps, smooth(history["D_x"], window), label="D(x), real")
        axes[1].plot(steps, smooth(history["D_G_z"], window), label="D(G(z)), fake")
    if "W_estimate" in history:
        axes[1].plot(steps, smooth(history["W_estimate"], window), label="W1 estimate E[f(x)] - E[f(G(z))]")
    axes[1].set_xlabel("generator step")
    axes[1].set_ylabel("discriminator output (mean)")
    axes[1].set_title(f"{title}: what D sees")
    axes[1].legend()
    plt.tight_layout()
    return axes


def plot_samples_over_time(samples, n_show: int = 16, max_panels: int = 6, title: str = "Fixed-noise samples"):
    """Small multiples of the fixed-noise grid at several training steps ([(step, images)])."""
    if not samples:
        raise ValueError("no samples recorded: set TrainConfig.sample_every")
    idx = np.unique(np.linspace(0, len(samples) - 1, min(max_panels, len(samples))).round().astype(int))
    fig, axes = plt.subplots(1, len(idx), figsize=(3 * len(idx), 3.4), squeeze=False)
    for ax, i in zip(axes[0], idx):
        step, imgs = samples[i]
        show_images(imgs[:n_show], nrow=int(math.sqrt(n_show)), title=f"step {step}", ax=ax)
        ax.set_xlabel("same z every panel")
    fig.suptitle(title)
    plt.tight_layout()
    return fig


def animate_samples(samples, n_show: int = 64, interval: int = 400):
    """A matplotlib animation of the fixed-noise grid over training (notebook 04); returns HTML."""
    from matplotlib import animation

    fig, ax = plt.subplots(figsize=(5, 5))
    step0, imgs0 = samples[0]
    grid = image_grid(imgs0[:n_show])
    im = ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("fixed noise batch")
    title = ax.set_title(f"step {step0}")

    def update(i):
        step, imgs = samples[i]
        im.set_data(image_grid(imgs[:n_show]))
        title.set_text(f"Fixed-noise samples, step {step}")
        return im, title

    anim = animation.FuncAnimation(fig, update, frames=len(samples), interval=interval, blit=False)
    plt.close(fig)
    return anim.to_jshtml()
