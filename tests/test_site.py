"""`make site` (scripts/build_site.py) and the README's key figures it regenerates."""
import hashlib
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import build_site  # noqa: E402

FIGURES = ROOT / "docs" / "figures"


def test_every_notebook_has_a_mode_the_builder_knows():
    numbers = {p.name[:2] for p in build_site.notebook_paths()}
    assert set(build_site.MODES) <= numbers, "MODES names a notebook that does not exist"
    assert all(m in build_site.MODE_ENV for m in build_site.MODES.values())


@pytest.mark.parametrize("name", sorted(build_site.FIGURES))
def test_readme_figure_is_current_with_the_cell_that_draws_it(name):
    # guards against: a README figure that no longer shows what the notebook draws
    nn, marker, k = build_site.FIGURES[name]
    path = build_site.notebook_paths([nn])[0]
    cell = build_site.drawing_cell(nbformat.read(path, as_version=4), marker, path.name)
    index = json.loads((FIGURES / "figures.json").read_text())
    assert (FIGURES / name).is_file() and name in index, f"docs/figures/{name} is missing: run `make site`"
    entry = index[name]
    assert entry["notebook"] == path.name and entry["mode"] == "default"
    assert entry["cell_sha256"] == hashlib.sha256(cell.source.encode()).hexdigest(), \
        f"the cell of {path.name} that draws {name} changed since the figure was made: run `make site`"
    assert (FIGURES / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_index_lists_exactly_the_figures_of_the_table():
    index = json.loads((FIGURES / "figures.json").read_text())
    assert set(index) == set(build_site.FIGURES)
    assert {p.name for p in FIGURES.glob("*.png")} == set(build_site.FIGURES)


def test_readme_shows_every_key_figure_and_links_the_site():
    readme = (ROOT / "README.md").read_text()
    for name in build_site.FIGURES:
        assert f"docs/figures/{name}" in readme, f"README does not show docs/figures/{name}"
    assert "make site" in readme


def test_pages_have_previous_index_and_next_links():
    pages = [("00_setup.html", "Setup"), ("01_minimax.html", "Minimax"), ("02_toy_gans.html", "Toys")]
    nav = build_site._nav(pages, 1, "top")
    assert 'href="00_setup.html"' in nav and 'href="index.html"' in nav and 'href="02_toy_gans.html"' in nav
    assert build_site._nav(pages, 0, "top").startswith('<nav class="course-nav top"><span></span>')  # no previous
    assert build_site._nav(pages, 2, "top").endswith("<span></span></nav>")                             # no next


def test_rendered_page_typesets_with_the_sites_own_mathjax_and_has_its_navigation():
    nb = nbformat.read(build_site.notebook_paths(["01"])[0], as_version=4)
    html = build_site.render_page(nb, "01_minimax", [("01_minimax.html", "01")], 0, "note",
                                  "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe")
    assert '<script src="mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe">' in html
    assert not re.search(r'<script[^>]+src="https?://', html), "a page must not need a CDN script"
    assert html.count('class="course-nav') == 2 and 'href="index.html"' in html


def test_index_links_the_pages_built_and_turns_colab_badges_into_links():
    title, intro, syllabus = build_site.readme_html({"01": ("01_minimax.html", "01")})
    assert 'href="01_minimax.html"' in syllabus
    assert "02_toy_gans.html" not in syllabus          # not built: plain text, no dead link
    assert "colab-badge.svg" not in syllabus and "colab.research.google.com" in syllabus


def test_pages_workflow_builds_the_site_and_deploys_it():
    wf = (ROOT / ".github" / "workflows" / "pages.yml").read_text()
    assert "make site" in wf and "actions/deploy-pages" in wf and "build/site" in wf
