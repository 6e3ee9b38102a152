"""Recorded multi-seed results that the notebooks load (docs/*_record.json, written by scripts/record_*.py):
mean +- std over seeds, their format, and loading a record (from this repository, or downloaded from
GitHub when the package runs without it, e.g. on Colab). Used by notebooks 10 (recipes), 13 (sequence GANs) and 14 (improved techniques)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np


def stats(values) -> dict:
    """``{"mean", "std", "values"}`` of a list of numbers (std with ddof=1; 0 for a single value)."""
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "values": v.tolist()}


def fmt_stat(s: dict, digits: int = 1) -> str:
    """``mean ± std`` of a :func:`stats` entry."""
    return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"


def docs_path(name: str) -> Path:
    """docs/``name`` of this repository."""
    return Path(__file__).resolve().parents[2] / "docs" / name


def load_json_record(name: str, path=None, repo: Optional[str] = None, ref: str = "main",
                     how_to_make: str = "") -> dict:
    """The record docs/``name``: ``path`` if given, else this repository's, else (an installed package
    without the repository) the same file downloaded from GitHub ``repo`` at ``ref``. One clear
    :class:`gan_utils.runtime.UserError` naming ``how_to_make`` it if none can be had."""
    from ..runtime import UserError

    p = Path(path) if path is not None else docs_path(name)
    if p.is_file():
        return json.loads(p.read_text())
    if path is None and repo:
        import urllib.request

        url = f"https://raw.githubusercontent.com/{repo}/{ref}/docs/{name}"
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                return json.loads(r.read().decode())
        except Exception as e:  # noqa: BLE001 - offline, moved, ...: say what to do instead
            raise UserError(f"no {name} here ({p}) and downloading {url} failed ({e}). {how_to_make}") from None
    raise UserError(f"no recorded results at {p}. {how_to_make}")


def spread_verdict(sa: dict, sb: dict, n_seeds: int = 3, short: bool = False) -> str:
    """What the difference of two :func:`stats` means against the spread of their seeds: supported (beyond
    the two standard deviations added), a hint (beyond the larger one only) or not distinguished.
    ``short``: just those words (notebook 14's tables explain them once)."""
    if n_seeds < 2:
        return "one seed" if short else "one seed: no spread to judge it by"
    d = abs(sa["mean"] - sb["mean"])
    lo, hi = max(sa["std"], sb["std"]), sa["std"] + sb["std"]
    seeds = {3: "three"}.get(n_seeds, str(n_seeds))
    if d > hi:
        return "supported" if short else (f"more than their two standard deviations together: a difference these "
                                          f"{seeds} seeds support (for this model, budget and data)")
    if d > lo:
        return "a hint" if short else ("more than the larger standard deviation but less than the two together: "
                                       "a hint, not a result")
    return "not distinguished" if short else f"less than the larger standard deviation: not distinguished by {seeds} seeds"


def versus_sentence(label_a: str, label_b: str, sa: dict, sb: dict, what: str, word: str = "lower",
                    digits: int = 1, n_seeds: int = 3) -> str:
    """One sentence comparing two :func:`stats` by the spread of their seeds: which is ``word`` and by how much."""
    d = sa["mean"] - sb["mean"]
    lower = label_a if d < 0 else label_b
    return (f"{label_a} vs {label_b}: {what} {word} for {lower} by {abs(d):.{digits}f}, "
            f"{spread_verdict(sa, sb, n_seeds)}.")


def write_marked_sentences(notebook, markers: dict, sentences) -> bool:
    """In the markdown cells of ``notebook`` (a path), replace the text between each pair of
    ``markers[part] = (start, end)`` by ``sentences(part)``; True if the file changed. How the
    notebooks' prose quoting a record is regenerated (``scripts/record_*.py --write-notebook``)."""
    p = Path(notebook)
    nb = json.loads(p.read_text())
    changed = False
    for part, (start, end) in markers.items():
        for c in nb["cells"]:
            src = "".join(c["source"])
            if c["cell_type"] == "markdown" and start in src and end in src:
                i, j = src.index(start) + len(start), src.index(end)
                new = src[:i] + "\n" + sentences(part) + "\n" + src[j:]
                if new != src:
                    c["source"], changed = new.splitlines(keepends=True), True
    if changed:
        p.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return changed
