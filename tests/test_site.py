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


# --- issue 33: figures whatever MPLBACKEND; the set-up cell collapsed ------------------------------

def _with_images(nb, n):
    nb = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    code = [c for c in nb.cells if c.cell_type == "code"]
    for c in code:
        c.outputs = []
    for c in code[:n]:
        c.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "fig"})]
    return nb


def test_a_page_without_the_figures_its_notebook_draws_fails_the_build():
    # guards against: `make site` in a shell with MPLBACKEND=Agg reporting success for pages without figures
    nb = nbformat.read(build_site.notebook_paths(["02"])[0], as_version=4)
    record = {"02_toy_gans": {"smoke": 13}}
    problem = build_site.missing_figures("02_toy_gans", "default", _with_images(nb, 0), record)
    assert problem and "no figures" in problem and "MPLBACKEND" in problem and "--record-figures 02" in problem
    assert build_site.missing_figures("02_toy_gans", "smoke", _with_images(nb, 3), record) is None
    assert build_site.missing_figures("00_setup", "smoke", _with_images(nb, 0), record) is None   # not known to draw


def test_every_notebook_has_its_figure_count_recorded():
    # guards against: a new notebook whose figureless page nobody would notice
    record = json.loads(build_site.PAGE_FIGURES.read_text())
    for p in build_site.notebook_paths():
        assert "smoke" in record.get(p.stem, {}), \
            f"{p.name} has no figure count in docs/figures/page_figures.json: run " \
            f"python scripts/build_site.py --smoke --record-figures {p.name[:2]}"


def test_executors_give_kernels_the_inline_backend_whatever_the_callers():
    import notebook_exec

    assert notebook_exec.kernel_env({"MPLBACKEND": "Agg"})["MPLBACKEND"] == notebook_exec.INLINE_BACKEND
    assert "MPLBACKEND" not in notebook_exec.kernel_env({})            # ipykernel picks inline itself
    ipympl = "module://ipympl.backend_nbagg"                             # a learner's interactive choice stays
    assert notebook_exec.kernel_env({"MPLBACKEND": ipympl})["MPLBACKEND"] == ipympl
    assert notebook_exec.kernel_env({"MPLBACKEND": ipympl}, force_inline=True)["MPLBACKEND"] == notebook_exec.INLINE_BACKEND
    for script in ("build_site.py", "measure_runtimes.py", "sync_notebooks.py", "gpu_check.py"):
        text = (ROOT / "scripts" / script).read_text()
        assert "NotebookClient(" not in text, f"{script} runs notebooks itself: use notebook_exec.execute"


@pytest.mark.slow
def test_site_built_with_mplbackend_agg_still_shows_the_figures(tmp_path):
    """A smoke build of two drawing notebooks in a shell with MPLBACKEND=Agg (issue 33)."""
    import os
    import subprocess

    env = dict(os.environ, MPLBACKEND="Agg", GAN_COURSE_CHECKPOINTS=str(tmp_path / "ckpt"))
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_site.py"), "--smoke", "--force", "00", "01",
                        "--out", str(tmp_path / "site")], env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    record = json.loads(build_site.PAGE_FIGURES.read_text())
    for stem in ("00_setup", "01_minimax"):
        page = (tmp_path / "site" / f"{stem}.html").read_text()
        shown = page.count("data:image/png;base64")
        assert shown >= record[stem]["smoke"] > 0, f"{stem}: {shown} figures on the page"


def test_the_set_up_cell_is_a_one_line_summary_on_the_page():
    import sync_notebooks

    nb = nbformat.read(build_site.notebook_paths(["01"])[0], as_version=4)
    html = build_site.render_page(nb, "01_minimax", [("01_minimax.html", "01")], 0, "note", "mathjax/MathJax.js")
    assert html.count('<details class="course-collapsed">') == 1
    assert f"<summary>{sync_notebooks.SETUP_SUMMARY}</summary>" in html
    assert html.index("course-collapsed") < html.index("COURSE_REPO")          # the source is inside it


def test_index_links_the_decks_the_guide_and_the_chinese_entry():
    pages = [("01_minimax.html", "01")]
    html = build_site.build_index(pages, [], {"01_minimax.html": "(smoke mode)"}, {"01_minimax.html"},
                                  {"teaching.html", "zh.html"})
    assert 'href="slides/01_minimax.html"' in html and 'href="teaching.html"' in html and 'href="zh.html"' in html


def test_document_links_point_at_the_sites_pages_or_github():
    src = ROOT / "docs" / "zh" / "README.md"
    assert build_site.site_href("../../notebooks/01_minimax.ipynb", src, {"01"}) == "01_minimax.html"
    assert build_site.site_href("../../notebooks/02_toy_gans.ipynb", src, {"01"}).startswith("https://github.com/")
    assert build_site.site_href("../teaching.md", src, set()) == "teaching.html"
    assert build_site.site_href("../../README.md", src, set()) == "index.html"
    assert build_site.site_href("https://example.org/x", src, set()) == "https://example.org/x"
    assert build_site.site_href("../../references.bib", src, set()).endswith("/blob/main/references.bib")
