#!/usr/bin/env python3
"""Keep the parts every notebook shares identical, from one source of truth.

For every ``notebooks/NN_*.ipynb`` this writes:
  1. a first markdown cell with the "Open in Colab" link (slug and ref from pyproject.toml,
     ``[tool.gan-course]``; a text link, which renders offline too), followed by the notebook's own
     title cell;
  2. the first code cell: the setup cell below (OMP_WAIT_POLICY, install gan_utils on Colab
     without touching Colab's own packages, device, seed);
  3. cell metadata: the setup cell's source collapsed in JupyterLab (``jupyter.source_hidden``), and
     the slide types (``slideshow.slide_type``) of the badge (skipped), setup (on the title slide) and
     parameters (skipped) cells; every other cell's slide type is chosen for the lecture by hand and
     kept as it is (``make slides``);
  4. notebook metadata: the kernelspec JupyterLab itself writes (so opening a notebook changes
     nothing), a Colab GPU runtime only for the notebooks in ``COLAB_ACCELERATOR``; the tag
     `parameters` on the cell that starts with ``# parameters`` (the smoke switch);
and strips outputs, except those of ``# NBVAL_CHECK_OUTPUT`` cells (the outputs policy in
CONTRIBUTING.md): those are recorded from a real smoke-mode run by ``--record`` and compared by
nbval on every CI run, so they cannot be hand-edited without CI failing.

    python scripts/sync_notebooks.py                  # rewrite notebooks in place
    python scripts/sync_notebooks.py --check          # exit 1 if any notebook is out of sync (tests use it)
    python scripts/sync_notebooks.py --record 01 04   # run in smoke mode, record NBVAL_CHECK_OUTPUT outputs
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BADGE_MARK = "<!-- colab-badge -->"
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"

#: The runtime each notebook asks Colab for, by number; absent means a CPU runtime. Free GPU quota
#: is scarce, so only notebooks whose default mode needs a GPU (08 trains two GANs for 2 x 10 000+
#: steps) ask for one. Add 09/10 here if they do too.
COLAB_ACCELERATOR = {"08": "GPU"}

#: What JupyterLab (ipykernel) writes when it saves a notebook: committing the same means merely
#: opening and saving a notebook changes nothing in its metadata.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def is_checked(cell) -> bool:
    return cell.cell_type == "code" and cell.source.lstrip().startswith(CHECK_MARK)


def saved_outputs(nb) -> list[int]:
    """Indexes of the code cells that carry what the outputs policy strips (outputs or an execution
    count outside the recorded NBVAL_CHECK_OUTPUT cells): what JupyterLab saves into a notebook run in it."""
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and not is_checked(c)
            and (c.get("outputs") or c.get("execution_count") is not None)]


def course_slug() -> tuple[str, str]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["gan-course"]
    return cfg["repository"], cfg["ref"]


def badge_url(notebook_name: str) -> str:
    repo, ref = course_slug()
    return f"https://colab.research.google.com/github/{repo}/blob/{ref}/notebooks/{notebook_name}"


def badge_markdown(notebook_name: str) -> str:
    # A text link, not the remote badge image: that image is a broken icon offline (and in the
    # working copy on a machine without network); a link renders everywhere.
    gpu = " (asks for a GPU runtime)" if notebook_name[:2] in COLAB_ACCELERATOR else ""
    return f"{BADGE_MARK}\n**[Open in Colab]({badge_url(notebook_name)})**{gpu}"


def requirements() -> list[str]:
    """gan_utils' runtime requirements as pyproject.toml declares them (the setup cell installs,
    on Colab, only those that are not installed at all)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib
    return list(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])


def _requires_literal(indent: str = "    ") -> str:
    """pyproject's runtime requirements as a dict literal {distribution: requirement}, wrapped."""
    names = [re.split(r"[<>=!~ ;\\[]", r, maxsplit=1)[0] for r in requirements()]
    items = [f'"{n}": "{r}"' for n, r in zip(names, requirements())]
    lines, line = [], ""
    for item in items:
        if line and len(indent) + 4 + len(line) + len(item) + 2 > 104:
            lines.append(line.rstrip())
            line = ""
        line += item + ", "
    lines.append(line.rstrip(", "))
    return "{" + ("\n" + indent + "    ").join(lines) + "}"


#: The setup cell's first line: JupyterLab shows it for the collapsed cell (``jupyter.source_hidden``),
#: the site and the slides as the one-line summary that expands on click (scripts/build_site.py).
SETUP_SUMMARY = "Set-up: installs gan_utils on Colab, picks the device, seeds"
#: How earlier versions of the setup cell began (so sync recognises and replaces them).
SETUP_PREFIXES = ("# " + SETUP_SUMMARY, "# Setup: the same first cell")


def setup_cell_source() -> str:
    repo, ref = course_slug()
    return f'''# {SETUP_SUMMARY}
# (the same first cell in every notebook: scripts/sync_notebooks.py writes it, so please leave it as it is)
# On Colab, install gan_utils from this course's repository if it is missing, keeping Colab's own
# torch, numpy and ipywidgets; then pick the device (cuda > mps > cpu) and seed every random generator.
import importlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys

# Idle OpenMP threads sleep instead of spinning (busy-waiting threads slow everything else on a
# loaded CPU). torch reads this once, when it is imported: so it is set here, unless you set it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

COURSE_REPO, COURSE_REF = "{repo}", "{ref}"
if "google.colab" in sys.modules and importlib.util.find_spec("gan_utils") is None:
    # --no-deps: Colab's torch, numpy and ipywidgets stay as they are (replacing them under a running
    # kernel breaks widgets); then only the requirements that are not installed at all
    GAN_UTILS_REQUIRES = {_requires_literal()}

    def installed(dist):
        try:
            return bool(importlib.metadata.version(dist))
        except importlib.metadata.PackageNotFoundError:
            return False

    PIP = [sys.executable, "-m", "pip", "install", "-q"]
    PIP_INSTALLS = [PIP + ["--no-deps", f"gan_utils @ git+https://github.com/{{COURSE_REPO}}@{{COURSE_REF}}"]]
    missing = [req for dist, req in GAN_UTILS_REQUIRES.items() if not installed(dist)]
    if missing:
        PIP_INSTALLS.append(PIP + missing)
    for cmd in PIP_INSTALLS:
        print("Installing:", " ".join(cmd[4:]))
        subprocess.check_call(cmd)
    importlib.invalidate_caches()

import torch
import gan_utils

device = gan_utils.get_device()
SEED = gan_utils.seed_everything(0)
print(f"gan_utils {{gan_utils.__version__}} | torch {{torch.__version__}} | device: {{device}}")'''


#: nbconvert's slide types (cell metadata ``slideshow.slide_type``): "slide" starts a slide,
#: "subslide" a slide below it, "fragment" appears on the next click, "-" continues the slide (as
#: does a cell without any), "skip" is left out, "notes" goes to the speaker notes.
SLIDE_TYPES = ("slide", "subslide", "fragment", "-", "skip", "notes")


def slide_type(cell, value: str | None = None) -> str | None:
    """The cell's slide type; with ``value``, set it first. sync() sets only the badge, setup and
    parameters cells' types; every other cell keeps the type chosen for the lecture (never stripped)."""
    if value is not None:
        cell.metadata.setdefault("slideshow", {})["slide_type"] = value
    return cell.metadata.get("slideshow", {}).get("slide_type")


def sync(nb, name: str) -> None:
    cells = nb.cells
    badge = badge_markdown(name)
    if cells and cells[0].cell_type == "markdown" and cells[0].source.startswith(BADGE_MARK):
        cells[0].source = badge
    else:
        cells.insert(0, nbformat.v4.new_markdown_cell(badge))
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), None)
    src = setup_cell_source()
    if first_code is not None and cells[first_code].source.startswith(SETUP_PREFIXES):
        cells[first_code].source = src
    else:
        # after the badge and the title cell
        first_code = 2 if len(cells) > 1 and cells[1].cell_type == "markdown" else 1
        cells.insert(first_code, nbformat.v4.new_code_cell(src))
    # the lesson first: the setup cell's source starts collapsed in JupyterLab (and on the site, in slides)
    cells[first_code].metadata.setdefault("jupyter", {})["source_hidden"] = True
    slide_type(cells[0], "skip")              # slides: the Colab link is no lecture material,
    slide_type(cells[first_code], "-")        # the collapsed setup sits on the title slide
    for c in cells:
        c.pop("id", None)
        if c.cell_type == "code" and c.source.startswith("# parameters"):
            tags = c.metadata.setdefault("tags", [])
            if "parameters" not in tags:
                tags.append("parameters")
            slide_type(c, "skip")                   # the smoke switch: not for a lecture
        if c.cell_type == "code" and not is_checked(c):
            c.outputs = []
            c.execution_count = None
    colab = nb.metadata.setdefault("colab", {})
    colab["provenance"] = []
    accelerator = COLAB_ACCELERATOR.get(name[:2])
    if accelerator:
        nb.metadata["accelerator"] = accelerator
        colab["gpuType"] = "T4"            # the free tier's GPU
    else:
        nb.metadata.pop("accelerator", None)
        colab.pop("gpuType", None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.nbformat, nb.nbformat_minor = 4, 5


def normalised(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    sync(nb, path.name)
    for i, c in enumerate(nb.cells):
        c["id"] = f"cell-{i:02d}"
    return nbformat.writes(nb) + "\n"


def record(path: Path) -> None:
    """Execute ``path`` in smoke mode and keep the outputs of its NBVAL_CHECK_OUTPUT cells."""
    nb = nbformat.read(path, as_version=4)
    sync(nb, path.name)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    run = nbformat.from_dict(nbformat.v4.new_notebook(cells=[nbformat.from_dict(dict(c)) for c in nb.cells],
                                                      metadata=nb.metadata))
    from notebook_exec import execute  # same folder

    execute(run, path.parent, timeout=600, GAN_COURSE_SMOKE="1")
    for kept, ran in zip(nb.cells, run.cells):
        if is_checked(kept):
            if any(o.get("output_type") == "error" for o in ran.outputs):
                raise SystemExit(f"{path.name}: a NBVAL_CHECK_OUTPUT cell raised an error; not recording")
            kept.outputs = [o for o in ran.outputs if o.get("output_type") in ("stream", "execute_result")]
            kept.execution_count = ran.execution_count
    path.write_text(nbformat.writes(nb) + "\n")
    path.write_text(normalised(path))
    print(f"recorded {sum(is_checked(c) for c in nb.cells)} checked cell(s) of {path.name}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only report notebooks that are out of sync")
    ap.add_argument("--record", action="store_true",
                    help="execute in smoke mode and record the outputs of NBVAL_CHECK_OUTPUT cells")
    ap.add_argument("paths", nargs="*", help="notebooks or number prefixes like 04 (default: all)")
    args = ap.parse_args(argv)
    every = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    paths = [Path(p) if p.endswith(".ipynb") else next(n for n in every if n.name.startswith(p))
             for p in args.paths] or every
    if args.record:
        for p in paths:
            record(p)
        return 0
    bad = []
    for p in paths:
        text = normalised(p)
        if p.read_text() != text:
            bad.append(p)
            if not args.check:
                p.write_text(text)
    if args.check and bad:
        print("Out of sync (run python scripts/sync_notebooks.py):", *map(str, bad), sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
