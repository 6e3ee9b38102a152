"""Recorded multi-seed results that the notebooks load (docs/*_record.json, written by scripts/record_*.py):
mean +- std over seeds, their format, and loading a record (from this repository, or downloaded from
GitHub when the package runs without it, e.g. on Colab). Used by notebooks 10 (recipes), 11 (image-to-image translation), 13 (sequence GANs) and 14 (improved techniques)."""
from __future__ import annotations

import json
from dataclasses import dataclass
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


#: two-sided p-value thresholds of Welch's test for the prose's verdicts (n = 3 seeds per arm: the test has
#: about 2 to 4 degrees of freedom, so only large, consistent differences reach the first)
P_SUPPORTED, P_SUGGESTIVE = 0.01, 0.1


@dataclass(frozen=True)
class WelchTest:
    """Welch's unequal-variance t-test of two samples: statistic, Welch-Satterthwaite degrees of freedom,
    two-sided p-value."""

    t: float
    df: float
    p: float


def welch_t_test(a, b) -> WelchTest:
    """Welch's t-test (unequal variances) of the means of samples ``a`` and ``b`` (e.g. the FDs of three
    seeds per recipe), two-sided, as ``scipy.stats.ttest_ind(a, b, equal_var=False)`` computes it::

        t  = (mean_a - mean_b) / sqrt(s_a^2 / n_a + s_b^2 / n_b)          s^2: sample variances (ddof 1)
        df = (s_a^2/n_a + s_b^2/n_b)^2 / ((s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1))   Welch-Satterthwaite
        p  = 2 P(T_df > |t|)                                              Student's t with df degrees

    With three seeds per arm the test has little power and assumes roughly normal scores: a p-value is a
    yardstick for "could another draw of seeds reverse this", not a proof. Taught in notebook 10."""
    from scipy.special import stdtr

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"Welch's test needs at least 2 values per sample, got {len(a)} and {len(b)}")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)      # squared standard errors of the two means
    if va + vb == 0:
        raise ValueError("both samples have zero spread: Welch's t is undefined")
    t = (a.mean() - b.mean()) / np.sqrt(va + vb)                # t = difference / its standard error
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))   # Welch-Satterthwaite
    p = 2 * stdtr(df, -abs(t))                                  # two-sided: 2 P(T_df <= -|t|)
    return WelchTest(t=float(t), df=float(df), p=float(p))


def fmt_p(p: float) -> str:
    """"p = 0.057", or "p < 0.001" below that (three decimals say nothing more there)."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def verdict_level(sa: dict, sb: dict) -> tuple:
    """The verdict of :func:`welch_verdict` as one word and the test: ``("supported" | "suggestive" |
    "not distinguished", WelchTest)``, or ``("one seed" | "no spread", None)`` where there is nothing to test.
    What notebooks check their readings against."""
    n = min(len(sa["values"]), len(sb["values"]))
    if n < 2:
        return "one seed", None
    if sa["std"] == 0 and sb["std"] == 0:
        return "no spread", None
    w = welch_t_test(sa["values"], sb["values"])
    return ("supported" if w.p < P_SUPPORTED else "suggestive" if w.p < P_SUGGESTIVE else "not distinguished"), w


def welch_verdict(sa: dict, sb: dict, short: bool = False) -> str:
    """What the difference of two :func:`stats` entries says by Welch's t-test of their seeds' values:
    supported (p < P_SUPPORTED), suggestive (p < P_SUGGESTIVE) or not distinguished, with the statistic.
    ``short``: the word and the p-value only ("suggestive, p = 0.072"; notebook 14's tables, which explain
    the words once)."""
    n = min(len(sa["values"]), len(sb["values"]))
    level, w = verdict_level(sa, sb)
    if short:
        return level if w is None else f"{level}, {fmt_p(w.p)}"
    if level == "one seed":
        return "one seed: no spread to judge it by"
    if level == "no spread":
        return f"the same in each of the {n} seeds (no spread: nothing to test)"
    stat = f"Welch's t = {abs(w.t):.2f}, {w.df:.1f} degrees of freedom, {fmt_p(w.p)}"
    if w.p < P_SUPPORTED:
        return f"a difference these {n} seeds support ({stat}; for this model, budget and data)"
    if w.p < P_SUGGESTIVE:
        return f"suggestive, not established ({stat}): more seeds would decide it"
    return f"not distinguished by {n} seeds ({stat})"


def versus_sentence(label_a: str, label_b: str, sa: dict, sb: dict, what: str, word: str = "lower",
                    digits: int = 1) -> str:
    """One sentence comparing two :func:`stats` entries by Welch's t-test of their seeds: which is ``word``
    and by how much."""
    d = sa["mean"] - sb["mean"]
    lower = label_a if d < 0 else label_b
    return f"{label_a} vs {label_b}: {what} {word} for {lower} by {abs(d):.{digits}f}, {welch_verdict(sa, sb)}."


def sentence_markers(*parts: str) -> dict:
    """``{part: ("<!-- record:part -->", "<!-- /record:part -->")}``: the comments that enclose, in a notebook's
    markdown, the sentences generated from its record (:func:`write_marked_sentences`)."""
    return {part: (f"<!-- record:{part} -->", f"<!-- /record:{part} -->") for part in parts}


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
