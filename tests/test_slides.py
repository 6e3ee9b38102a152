"""The lecture decks (`make slides`, scripts/build_site.py): every notebook's cells carry slide types
chosen for a lecture (cell metadata ``slideshow.slide_type``, kept by scripts/sync_notebooks.py), and a
deck renders offline: reveal.js and MathJax from the site itself, no CDN address."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
sys.path.insert(0, str(ROOT / "scripts"))
import build_site  # noqa: E402
import sync_notebooks  # noqa: E402

HOWTO = ("mark the cells that open a slide with cell metadata slideshow.slide_type = \"slide\" (sections) or "
         "\"subslide\" (a derivation step, a figure, a concept check), \"fragment\" for checks revealed on a click, "
         "\"skip\" for what a lecture leaves out (JupyterLab: the property inspector's 'Slide Type'; "
         "CONTRIBUTING.md, 'Slides')")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_is_cut_into_lecture_slides(path):
    # guards against: a new notebook (11-14 are coming) rendering as one endless slide
    nb = nbformat.read(path, as_version=4)
    types = [sync_notebooks.slide_type(c) for c in nb.cells]
    bad = {t for t in types if t is not None and t not in sync_notebooks.SLIDE_TYPES}
    assert not bad, f"{path.name}: unknown slide types {bad}; use one of {sync_notebooks.SLIDE_TYPES}"
    n = build_site.planned_slides(nb)
    assert n >= build_site.MIN_SLIDES, \
        f"{path.name} lacks slide metadata: its deck would have {n} slide(s), at least {build_site.MIN_SLIDES} " \
        "wanted: " + HOWTO
    title = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.lstrip().startswith("# "))
    assert types[title] == "slide", f"{path.name}: the title cell opens the first slide"
    # the concept checks are in-class questions: one slide each
    for c in nb.cells:
        if "concepts.ask(" in c.source:
            assert sync_notebooks.slide_type(c) == "subslide", f"{path.name}: a concept check gets its own slide"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_sync_writes_the_shared_cells_slide_types_and_collapses_the_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    setup, params = code[0], next(c for c in code if "parameters" in c.metadata.get("tags", []))
    assert sync_notebooks.slide_type(nb.cells[0]) == "skip"                  # the Colab link
    assert sync_notebooks.slide_type(params) == "skip"                       # the smoke switch
    assert sync_notebooks.slide_type(setup) == "-"                           # on the title slide, collapsed
    # JupyterLab shows the lesson first: the setup cell's source is collapsed to its first line, the summary
    assert setup.metadata.get("jupyter", {}).get("source_hidden") is True
    assert setup.source.splitlines()[0] == "# " + sync_notebooks.SETUP_SUMMARY


def test_sync_keeps_the_slide_types_chosen_for_the_lecture(tmp_path):
    # guards against: scripts/sync_notebooks.py stripping the slide metadata (or JupyterLab's expanded
    # setup cell staying expanded in the committed notebook)
    src = NOTEBOOKS[1]
    nb = nbformat.read(src, as_version=4)
    content = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## "))
    nb.cells[content].metadata["slideshow"] = {"slide_type": "fragment"}
    setup = next(c for c in nb.cells if c.cell_type == "code")
    setup.metadata["jupyter"] = {"source_hidden": False}
    p = tmp_path / src.name
    nbformat.write(nb, p)
    again = nbformat.reads(sync_notebooks.normalised(p), as_version=4)
    assert sync_notebooks.slide_type(again.cells[content]) == "fragment"
    assert next(c for c in again.cells if c.cell_type == "code").metadata["jupyter"]["source_hidden"] is True


def test_an_old_setup_cell_is_recognised_and_replaced(tmp_path):
    # notebooks written on branches before the summary line (11-14) still sync to one setup cell
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    setup.source = "# Setup: the same first cell in every notebook (scripts/sync_notebooks.py keeps them identical).\n"
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    p = tmp_path / NOTEBOOKS[0].name
    nbformat.write(nb, p)
    again = nbformat.reads(sync_notebooks.normalised(p), as_version=4)
    assert sum(c.cell_type == "code" for c in again.cells) == n_code
    assert next(c for c in again.cells if c.cell_type == "code").source == sync_notebooks.setup_cell_source()


def test_slide_count_counts_sections_without_nested_ones():
    deck = "<section><section>a</section><section>b</section></section><section><section>c</section></section>"
    assert build_site.slide_count(deck) == 3


EXTERNAL = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["'](?:https?:)?//""", re.I)


@pytest.mark.slow
def test_a_deck_renders_from_the_executed_run_offline(tmp_path):
    """`make slides` for notebook 01 in smoke mode, into a temporary site."""
    env = dict(os.environ, GAN_COURSE_SMOKE="1")
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_site.py"), "--smoke", "--slides-only", "01",
                        "--out", str(tmp_path)], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    deck = (tmp_path / "slides" / "01_minimax.html").read_text()
    nb = nbformat.read(NOTEBOOKS[1], as_version=4)
    assert build_site.slide_count(deck) == build_site.planned_slides(nb) >= build_site.MIN_SLIDES
    assert not EXTERNAL.findall(deck), f"the deck loads from elsewhere: {EXTERNAL.findall(deck)[:3]}"
    assert "require.js" not in deck and "unpkg.com" not in deck and "cdnjs" not in deck
    assert '<script src="../reveal.js/dist/reveal.js">' in deck and '../mathjax/MathJax.js' in deck
    for f in build_site.REVEAL_FILES:
        assert (tmp_path / build_site.REVEAL_DIR / f).is_file(), f
    for css in (tmp_path / build_site.REVEAL_DIR).rglob("*.css"):
        assert not re.search(r"@import\s+url\(\s*['\"]?https?:", css.read_text()), f"{css.name} imports from a CDN"
    assert deck.count(f"<summary>{sync_notebooks.SETUP_SUMMARY}</summary>") == 1     # the set-up cell, collapsed
    assert "The code that draws this figure" in deck           # long plotting code folded: the figure fills the slide
    assert "data:image/png;base64" in deck                      # the figures of the executed run
    assert 'class="concept-check"' in deck                      # the in-class questions
    assert "def optimal_discriminator" not in deck              # the exercises are homework, skipped
