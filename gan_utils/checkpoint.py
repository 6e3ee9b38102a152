"""Checkpoints: plain dicts of state_dicts + config, loadable with ``torch.load(weights_only=True)``.

Taught in notebooks/04_dcgan.ipynb (save, load, resume) and used by 06 (evaluate the DCGAN) and
08 (survive a Colab disconnect). Files are written atomically (temporary file, then rename), so a
run killed mid-save never leaves a truncated checkpoint behind.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

FORMAT = "gan_course/checkpoint-v1"
LATEST = "checkpoint_latest.pt"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used here; the message says why and what to do."""


def save_checkpoint(state: dict, path) -> Path:
    """Write ``state`` to ``path`` atomically (temp file in the same folder, then os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save({"format": FORMAT, **state}, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True`` (no arbitrary code runs) and check its format."""
    path = Path(path)
    if path.is_dir():
        path = path / LATEST
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}. Train first (python -m gan_utils train ... "
                              "--out DIR) or pass the path of an existing .pt file.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated file, pickle with code, not a torch file...
        raise CheckpointError(f"{path} is not a readable gan_utils checkpoint ({type(e).__name__}: {e}). "
                              "Delete it and train again, or point to another file.") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gan_utils checkpoint (format {state.get('format') if isinstance(state, dict) else type(state).__name__!r}, "
                              f"expected {FORMAT!r}).")
    return state


def load_generator(path, ema: bool = True, device="cpu") -> torch.nn.Module:
    """Rebuild the (EMA) generator of a checkpoint, in eval mode, on ``device``."""
    from .models import build_model

    state = load_checkpoint(path, map_location=device)
    G = build_model(state["model_config"]["G"])
    key = "G_ema" if ema and state.get("G_ema") is not None else "G"
    G.load_state_dict(state[key])
    return G.to(device).eval()
