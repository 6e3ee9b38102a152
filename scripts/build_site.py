#!/usr/bin/env python3
"""Build the browsable course (``make site``): execute the notebooks, render them to HTML with
their figures and typeset equations, add an index page and previous/next navigation, render each
notebook as a reveal.js deck (``slides/``; ``make slides`` builds only these), render the lecturer's
guide and the Chinese entry (``DOC_PAGES``), and refresh the README's key figures in ``docs/figures/``.

    python scripts/build_site.py                   # every notebook in its mode from MODES -> build/site/
    python scripts/build_site.py 01 04             # only these (navigation links the pages built)
    python scripts/build_site.py --smoke 01        # all in smoke mode: a quick check, never touches docs/figures
    python scripts/build_site.py --force           # re-execute even notebooks whose cached run is current
    python scripts/build_site.py --from-cache      # re-render from the cached runs, stale or not
    python scripts/build_site.py --slides-only     # only the decks (`make slides`)
    python scripts/build_site.py --smoke --record-figures 11   # store a new notebook's figure count

Executed notebooks are cached in ``build/site-cache/`` under a key made of the notebook, its mode
and the gan_utils sources, so a second build re-executes only what changed. Widgets are off
(``GAN_COURSE_WIDGETS=0``): a static page shows each explorer's representative figure. MathJax is
served from the site itself (the ``jupyter-server-mathjax`` package's copy), so pages typeset
their equations offline too; so is reveal.js (the ``sphinx-revealjs`` package's copy). Kernels draw
inline whatever the caller's MPLBACKEND (notebook_exec.py), and a page of a notebook known to draw
figures (``docs/figures/page_figures.json``) that has none fails the build. The setup cell, whose
source JupyterLab shows collapsed, is a one-line summary on the pages and slides that expands on click. ``.github/workflows/pages.yml`` publishes ``build/site`` to GitHub Pages.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import notebook_exec  # noqa: E402  (same folder)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "build" / "site"
CACHE = ROOT / "build" / "site-cache"
FIGURES_DIR = ROOT / "docs" / "figures"
FIGURES_INDEX = FIGURES_DIR / "figures.json"
#: How many figures each notebook's page shows, by mode: {"02_toy_gans": {"smoke": 13}, ...}, written
#: by ``--record-figures``. A notebook with a count above 0 is known to draw figures: a build whose page
#: of it has none fails (its kernel drew nothing, e.g. a non-inline MPLBACKEND), whatever else it printed.
PAGE_FIGURES = FIGURES_DIR / "page_figures.json"

#: The mode each notebook runs in for the site, by number; the environment each mode sets.
#: "default" is the real lesson, what a learner runs. Not listed: "default".
MODES = {
    # 08's default mode trains three CIFAR-10 GANs on a GPU (gan_utils/configs/*_cifar10.json), which a
    # CPU site build cannot do; the site shows its smoke run (tiny sizes), and the page says so. Its
    # recorded Fashion-MNIST runs are in configs/RESULTS.md.
    "08": "smoke",
}
MODE_ENV = {
    "default": {"GAN_COURSE_SMOKE": "0"},
    "smoke": {"GAN_COURSE_SMOKE": "1"},
}

#: The README's key figures: file name -> (notebook, a string found in exactly one code cell: the
#: cell that draws it, index of the image among that cell's outputs). `make site` writes them to
#: docs/figures/ with the hash of the drawing cell's source in figures.json;
#: tests/test_site.py fails when a drawing cell changed since its figure was made.
FIGURES = {
    "01_generator_losses.png": ("01", "The two generator losses", 0),
    "02_mode_collapse_field.png": ("02", "raw generator samples (orange) over the D / critic field", 0),
    "04_dcgan_samples_over_training.png": ("04", "DCGAN: fixed-noise samples during training", 0),
    "01_jsd_vs_w1.png": ("01", "JSD saturates at log 2: flat, so no gradient", 0),
}

SITE_CSS = """
nav.course-nav { font-family: system-ui, sans-serif; display: flex; justify-content: space-between;
  align-items: center; gap: 1em; padding: 0.6em 1em; margin: 0 0 1em 0; background: #f3f4f6;
  border-bottom: 1px solid #d1d5db; font-size: 15px; }
nav.course-nav.bottom { border-top: 1px solid #d1d5db; border-bottom: none; margin: 2em 0 0 0; }
nav.course-nav a { text-decoration: none; }
.course-note { font-family: system-ui, sans-serif; font-size: 14px; color: #4b5563; padding: 0 1em; }
"""


def notebook_paths(selected=()) -> list[Path]:
    every = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not selected:
        return every
    keys = {s.zfill(2) if s.isdigit() else s[:2] for s in selected}
    return [p for p in every if p.name[:2] in keys]


def drawing_cell(nb, marker: str, name: str = ""):
    """The one code cell whose source contains ``marker``."""
    cells = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    if len(cells) != 1:
        raise LookupError(f"{name}: {len(cells)} code cells contain {marker!r} (need exactly one): "
                          "update FIGURES in scripts/build_site.py")
    return cells[0]


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def _library_hash() -> str:
    h = hashlib.sha256()
    for p in sorted((ROOT / "gan_utils").rglob("*")):
        if p.suffix in (".py", ".json") and "__pycache__" not in p.parts:
            h.update(p.relative_to(ROOT).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def execute(path: Path, mode: str, force: bool, lib_hash: str,
            stale_ok: bool = False) -> tuple[nbformat.NotebookNode, float, bool]:
    """Run ``path`` in ``mode`` (cached). Returns (executed notebook, seconds it took, from cache).
    ``stale_ok``: use a cached run even if the notebook or gan_utils changed since (re-render only)."""
    key = source_hash(path.read_text() + mode + lib_hash)
    cached, meta = CACHE / f"{path.stem}.{mode}.ipynb", CACHE / f"{path.stem}.{mode}.json"
    if not force and cached.exists() and meta.exists():
        info = json.loads(meta.read_text())
        if info.get("key") == key or stale_ok:
            if info.get("key") != key:
                print(f"{path.name}: using a cached run older than the notebook or gan_utils (--from-cache)")
            return nbformat.read(cached, as_version=4), info["seconds"], True
    nb = nbformat.read(path, as_version=4)
    t0 = time.time()
    notebook_exec.execute(nb, NOTEBOOKS, GAN_COURSE_WIDGETS="0",
                          OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"), **MODE_ENV[mode])
    seconds = time.time() - t0
    CACHE.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, cached)
    meta.write_text(json.dumps({"key": key, "mode": mode, "seconds": round(seconds, 1)}))
    return nb, seconds, False


def missing_figures(stem: str, mode: str, nb, record: dict) -> str | None:
    """Why the executed ``nb`` (notebook ``stem``, run in ``mode``) lacks the figures it is known to
    draw, or None when it has them. Known: a count above 0 in ``record`` (PAGE_FIGURES) in any mode."""
    known = record.get(stem, {})
    got = notebook_exec.figure_count(nb)
    if got == 0 and any(n > 0 for n in known.values()):
        where = ", ".join(f"{n} in {m} mode" for m, n in sorted(known.items()))
        return (f"{stem}: its page has no figures, but the notebook draws them ({where}, {PAGE_FIGURES.name}): "
                f"its kernel drew nothing (MPLBACKEND={os.environ.get('MPLBACKEND', '(unset)')} here; kernels "
                "should get the inline backend from notebook_exec.execute; a cached run: rebuild with --force). If the "
                "notebook really no longer "
                "draws figures, record that: scripts/build_site.py --record-figures " + stem[:2])
    return None


def record_figures(executed: dict, modes: dict, paths) -> None:
    """Store each executed notebook's figure count for its mode in PAGE_FIGURES."""
    record = json.loads(PAGE_FIGURES.read_text()) if PAGE_FIGURES.exists() else {}
    for p in paths:
        if p.name[:2] in executed:
            record.setdefault(p.stem, {})[modes[p.name[:2]]] = notebook_exec.figure_count(executed[p.name[:2]])
    PAGE_FIGURES.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def title_of(nb, fallback: str) -> str:
    for c in nb.cells:
        if c.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", c.source, flags=re.M)
            if m:
                return m.group(1).strip()
    return fallback


def _nav(pages: list[tuple[str, str]], i: int, where: str) -> str:
    prev_link = f'<a href="{pages[i - 1][0]}">&larr; {html.escape(pages[i - 1][1])}</a>' if i > 0 else "<span></span>"
    next_link = (f'<a href="{pages[i + 1][0]}">{html.escape(pages[i + 1][1])} &rarr;</a>'
                 if i + 1 < len(pages) else "<span></span>")
    return (f'<nav class="course-nav {where}">{prev_link}<a href="index.html">Course index</a>'
            f'{next_link}</nav>')


#: Template blocks the pages and the decks share. A cell whose source is collapsed in JupyterLab
#: (``jupyter.source_hidden``: the setup cell, scripts/sync_notebooks.py) shows as its first line, a
#: one-line summary that expands on click; its output stays visible.
COLLAPSED_INPUT = """
{%- block input_group -%}
{%- if cell.metadata.get('jupyter', {}).get('source_hidden') -%}
<details class="course-collapsed"><summary>{{ (cell.metadata.get('course_summary')
  or cell.source.split('\\n', 1)[0].lstrip('# ')) | e }}</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{%- endblock input_group -%}
"""
#: The decks: reveal.js loaded with plain script tags from the site itself (nbconvert's own template
#: loads it through require.js and jQuery from CDNs, which fail offline); MathJax re-typesets each
#: slide as it is shown; a slide taller than the screen scrolls.
SLIDES_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
""" + COLLAPSED_INPUT + """
{% block footer_js %}
<script src="{{ resources.reveal.url_prefix }}/dist/reveal.js"></script>
<script src="{{ resources.reveal.url_prefix }}/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({controls: true, progress: true, hash: true, center: false, slideNumber: "c/t",
                   transition: "none", width: 1280, height: 800, margin: 0.03, plugins: [RevealNotes]});
Reveal.on("slidechanged", function (event) {
  if (window.MathJax && MathJax.Hub) { MathJax.Hub.Queue(["Rerender", MathJax.Hub, event.currentSlide]); }
});
</script>
{% endblock footer_js %}
"""
COURSE_CSS = """
details.course-collapsed > summary { cursor: pointer; font-family: system-ui, sans-serif; font-size: 14px;
  color: #374151; padding: 0.3em 0.6em; background: #f9fafb; border: 1px solid #e5e7eb; border-radius: 4px; }
details.course-collapsed[open] > summary { margin-bottom: 0.4em; }
"""
SLIDES_CSS = COURSE_CSS + """
.reveal .slides { text-align: left; }
.reveal .slides > section, .reveal .slides > section > section { height: 100%; overflow-y: auto; }
.reveal .jp-OutputArea-output img { max-height: 520px; width: auto; }
.reveal h1 { font-size: 1.6em; } .reveal h2 { font-size: 1.3em; } .reveal h3 { font-size: 1.1em; }
.course-deck-links { position: fixed; right: 12px; top: 8px; z-index: 30; font: 13px system-ui, sans-serif;
  background: rgba(255, 255, 255, 0.9); padding: 2px 6px; border-radius: 4px; }
"""


def _exporter(kind: str, mathjax_url: str, **traits):
    """nbconvert's page ("lab") or deck ("reveal") exporter with the course's template blocks."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter, SlidesExporter

    if kind == "reveal":
        cls, template = SlidesExporter, SLIDES_TEMPLATE
    else:
        cls, template = HTMLExporter, "{%- extends 'index.html.j2' -%}\n" + COLLAPSED_INPUT
    exporter = cls(template_name=kind, template_file=f"course_{kind}.html.j2",
                   extra_loaders=[DictLoader({f"course_{kind}.html.j2": template})], **traits)
    exporter.mathjax_url = mathjax_url
    return exporter


def _drop_cdn_scripts(body: str) -> str:
    """Scripts the pages do not need (no widget state is embedded; no mermaid diagrams); they come
    from a CDN and would only fail offline."""
    body = re.sub(r'<script src="[^"]*require[^"]*"></script>\s*', "", body)
    return re.sub(r'<script type="module">[^<]*mermaid[^<]*</script>\s*', "", body, flags=re.S)


def render_page(nb, name: str, pages, i: int, note: str, mathjax_url: str) -> str:
    body, _ = _exporter("lab", mathjax_url).from_notebook_node(nb, resources={"metadata": {"name": name}})
    body = _drop_cdn_scripts(body)
    body = body.replace("</head>", f"<style>{SITE_CSS}{COURSE_CSS}</style>\n</head>", 1)
    top = _nav(pages, i, "top") + f'<p class="course-note">{note}</p>'
    body = re.sub(r"(<main>)", lambda m: m.group(1) + top, body, count=1)
    body = body.replace("</main>", _nav(pages, i, "bottom") + "</main>", 1)
    return body


def readme_html(pages_by_nb: dict) -> str:
    """Index body: the README's title, introduction and syllabus, with links to the pages."""
    import mistune

    text = (ROOT / "README.md").read_text()
    title = re.search(r"^# (.+)$", text, flags=re.M).group(1)
    intro = text.split("\n## ", 1)[0].split("\n", 1)[1]
    syllabus = re.search(r"<!-- runtimes:start -->\n(.*?)<!-- runtimes:end -->", text, flags=re.S)
    syllabus = syllabus.group(1) if syllabus else ""
    # notebook links -> their pages (or plain text when not built); Colab badges -> text links
    syllabus = re.sub(r"\[!\[Open In Colab\]\([^)]*\)\]\(([^)]*)\)", r"[Colab](\1)", syllabus)

    def link(m):
        stem = m.group(2)
        return f"[{m.group(1)}]({stem}.html)" if stem[:2] in pages_by_nb else m.group(1)

    syllabus = re.sub(r"\[([^\]]+)\]\(notebooks/([0-9]{2}_[^)]+)\.ipynb\)", link, syllabus)
    md = mistune.create_markdown(plugins=["table"])
    return title, md(intro), md(syllabus)


#: Markdown documents that become pages of the site: page -> (source, language).
DOC_PAGES = {"teaching.html": ("docs/teaching.md", "en"), "zh.html": ("docs/zh/README.md", "zh")}


def site_href(target: str, source: Path, built: set) -> str:
    """Where a link of the markdown file ``source`` points on the site: a notebook's page (when
    built), a document's page, the index for the README, else the file on GitHub."""
    if re.match(r"^[a-z]+:|^#", target):
        return target
    path, _, anchor = target.partition("#")
    rel = (source.parent / path).resolve().relative_to(ROOT).as_posix()
    pages = {src: page for page, (src, _) in DOC_PAGES.items()} | {"README.md": "index.html"}
    m = re.fullmatch(r"notebooks/(([0-9]{2})_[^/]+)\.ipynb", rel)
    if m and m.group(2) in built:
        href = m.group(1) + ".html"
    elif rel in pages:
        href = pages[rel]
    else:
        from sync_notebooks import course_slug  # same folder

        repo, ref = course_slug()
        href = f"https://github.com/{repo}/{'tree' if (ROOT / rel).is_dir() else 'blob'}/{ref}/{rel}"
    return href + (f"#{anchor}" if anchor else "")


def render_doc(page: str, built: set, mathjax_url: str) -> str:
    """A DOC_PAGES document as a page of the site, its links pointing at the site's pages."""
    import mistune

    src, lang = DOC_PAGES[page]
    source = ROOT / src
    text = re.sub(r"\]\(([^)\s]+)\)", lambda m: f"]({site_href(m.group(1), source, built)})", source.read_text())
    title = re.search(r"^# (.+)$", text, flags=re.M).group(1)
    body = mistune.create_markdown(plugins=["table"], escape=False)(text)
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<script src="{mathjax_url}"></script>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; padding: 0 1em; line-height: 1.6; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #d1d5db; padding: 4px 8px; vertical-align: top; }}
code {{ background: #f3f4f6; padding: 0 3px; }}
</style></head>
<body>
<p><a href="index.html">Course index</a></p>
{body}
</body></html>
"""


def build_index(pages, figures: list[tuple[str, str]], notes: dict, decks: set = frozenset(),
                docs: set = frozenset()) -> str:
    title, intro, syllabus = readme_html({p[0][:2]: p for p in pages})
    items = "\n".join(f'<li><a href="{href}">{html.escape(t)}</a> <span class="mode">{html.escape(notes[href])}</span>'
                      + (f' &middot; <a class="deck" href="slides/{href}">slides</a>' if href in decks else "")
                      + "</li>" for href, t in pages)
    lecture = " &middot; ".join(f'<a href="{page}">{label}</a>' for page, label in
                                (("teaching.html", "Lecturer's guide: a 13-meeting plan"),
                                 ("zh.html", "中文入口 (Chinese entry)")) if page in docs)
    gallery = "\n".join(f'<figure><img src="figures/{f}" alt="{html.escape(cap)}"><figcaption>{html.escape(cap)}'
                        f"</figcaption></figure>" for f, cap in figures)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; line-height: 1.5; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #d1d5db; padding: 4px 8px; vertical-align: top; }}
figure {{ margin: 1em 0; }} figure img {{ max-width: 100%; border: 1px solid #e5e7eb; }}
.mode {{ color: #6b7280; font-size: 90%; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
{intro}
{f'<p id="lecture">{lecture}</p>' if lecture else ""}
<h2>The notebooks</h2>
<ul id="notebooks">
{items}
</ul>
{"<h2>Key figures</h2>" if figures else ""}
{gallery}
<h2>Syllabus</h2>
{syllabus}
<p class="mode">Built {time.strftime("%Y-%m-%d")} by <code>make site</code> (scripts/build_site.py). Every page is a
notebook executed top to bottom; run it yourself with <code>make course</code> or on Colab.</p>
</body></html>
"""


def _png_outputs(cell) -> list[bytes]:
    return [base64.b64decode(o["data"]["image/png"]) for o in cell.get("outputs", [])
            if "data" in o and "image/png" in o["data"]]


def export_figures(executed: dict, modes: dict, out_dirs: list[Path]) -> list[tuple[str, str]]:
    """Write the FIGURES of notebooks executed in their table mode; returns (file, caption) for the index."""
    index = json.loads(FIGURES_INDEX.read_text()) if FIGURES_INDEX.exists() else {}
    shown = []
    for fname, (nn, marker, k) in FIGURES.items():
        src_path = notebook_paths([nn])[0]
        caption = f"notebook {src_path.stem}: {marker}"
        if nn in executed and modes[nn] == MODES.get(nn, "default") == "default":
            ran = drawing_cell(executed[nn], marker, src_path.name)     # the source that drew it
            pngs = _png_outputs(ran)
            if len(pngs) <= k:
                raise SystemExit(f"{fname}: the cell drawing it in {src_path.name} made {len(pngs)} image(s)")
            for d in out_dirs:
                d.mkdir(parents=True, exist_ok=True)
                (d / fname).write_bytes(pngs[k])
            index[fname] = {"notebook": src_path.name, "marker": marker, "image": k,
                            "cell_sha256": source_hash(ran.source), "mode": "default"}
        if (FIGURES_DIR / fname).exists():
            shown.append((fname, caption))
    if FIGURES_DIR in out_dirs:
        FIGURES_INDEX.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return shown


def planned_slides(nb) -> int:
    """How many slides (and sub-slides) the cells' ``slideshow.slide_type`` make: nbconvert starts a
    slide at every "slide"/"subslide" cell, and at the first cell that is not skipped."""
    types = [c.metadata.get("slideshow", {}).get("slide_type", "-") for c in nb.cells]
    visible = [t for t in types if t not in ("skip", "notes")]
    return sum(t in ("slide", "subslide") for t in visible[1:]) + bool(visible)


def slide_count(deck: str) -> int:
    """The slides of a rendered deck: reveal.js <section>s that hold no further section."""
    return len(re.findall(r"<section\b", deck)) - len(re.findall(r"<section\b[^>]*>\s*<section\b", deck))


#: On a slide, a code cell longer than this that draws a figure shows the figure, its code collapsed.
SLIDE_CODE_LINES = 8


def figures_first(nb):
    """A copy of ``nb`` for the slides: the source of each long code cell that draws a figure is
    collapsed to a one-line summary, so that the figure, not its plotting code, fills the slide."""
    import copy

    nb = copy.deepcopy(nb)
    for c in nb.cells:
        draws = any(k.startswith("image/") for o in c.get("outputs", []) for k in o.get("data", {}))
        n = len(c.source.splitlines())
        if c.cell_type == "code" and draws and n > SLIDE_CODE_LINES:
            c.metadata.setdefault("jupyter", {})["source_hidden"] = True
            c.metadata["course_summary"] = f"The code that draws this figure ({n} lines)"
    return nb


def render_deck(nb, name: str, title: str, mathjax_url: str) -> str:
    """``nb`` (executed) as a reveal.js deck for ``slides/``: the cells' ``slideshow.slide_type`` pick
    the slides; reveal.js and MathJax come from the site itself (``../reveal.js``, ``../mathjax``)."""
    exporter = _exporter("reveal", "../" + mathjax_url, reveal_url_prefix="../" + REVEAL_DIR, reveal_theme=REVEAL_THEME)
    body, _ = exporter.from_notebook_node(figures_first(nb), resources={"metadata": {"name": f"{name}"}})
    body = _drop_cdn_scripts(body)
    body = body.replace("</head>", f"<style>{SLIDES_CSS}</style>\n</head>", 1)
    links = (f'<nav class="course-deck-links"><a href="../{name}.html">{html.escape(title)}: the page</a> '
             '&middot; <a href="../index.html">course index</a></nav>')
    return body.replace("</body>", links + "\n</body>", 1)


#: A deck with fewer slides has not been cut for a lecture (issue: >= 8 per notebook).
MIN_SLIDES = 8
#: Where the decks find reveal.js, inside the site, and what they need of it. The theme is "white":
#: its font comes with it (nbconvert's default, "simple", imports two fonts from a CDN).
REVEAL_DIR = "reveal.js"
REVEAL_THEME = "white"
REVEAL_FILES = ("LICENSE", "dist/reveal.js", "dist/reveal.css", f"dist/theme/{REVEAL_THEME}.css",
                "plugin/notes/notes.js")


def reveal_assets(site: Path) -> None:
    """Copy reveal.js (its dist/ and the notes plugin) into the site, from the copy that the
    ``sphinx-revealjs`` package ships (a dev requirement; its files are only read, sphinx is never
    imported), so the decks work offline and name no CDN."""
    import importlib.util

    spec = importlib.util.find_spec("sphinx_revealjs")
    src = next((Path(d) / "_static" / "revealjs" for d in (spec.submodule_search_locations or [])), None) \
        if spec else None
    if src is None or not (src / "dist" / "reveal.js").exists():
        raise SystemExit("make slides needs reveal.js, which the sphinx-revealjs package ships: "
                         "pip install -e \".[dev]\" (or pip install sphinx-revealjs)")
    dst = site / REVEAL_DIR
    for f in REVEAL_FILES:
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / f, dst / f)
    shutil.copytree(src / "dist/theme/fonts/source-sans-pro", dst / "dist/theme/fonts/source-sans-pro",
                    dirs_exist_ok=True)     # the white theme's font, imported relatively


def mathjax(site: Path) -> str:
    try:
        import jupyter_server_mathjax
    except ImportError:
        print("note: jupyter-server-mathjax is not installed; the pages load MathJax from a CDN")
        return "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
    src = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (site / "mathjax" / "MathJax.js").exists():
        shutil.copytree(src, site / "mathjax", dirs_exist_ok=True)
    return "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("notebooks", nargs="*", help="numbers like 01 04 (default: all)")
    ap.add_argument("--smoke", action="store_true", help="run every notebook in smoke mode (a quick check; "
                    "docs/figures is left alone)")
    ap.add_argument("--force", action="store_true", help="re-execute even when the cached run is current")
    ap.add_argument("--from-cache", action="store_true", help="re-render from cached runs even when the notebook "
                    "or gan_utils changed since (figures keep the hash of the cell that was run, so tests notice)")
    ap.add_argument("--record-figures", action="store_true", help=f"store each page's figure count in "
                    f"{PAGE_FIGURES.relative_to(ROOT)} instead of checking the pages against it")
    ap.add_argument("--slides-only", action="store_true", help="only the reveal.js decks (build/site/slides/, "
                    "`make slides`), from the same cached runs; the pages are left as they are")
    ap.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    paths = notebook_paths(args.notebooks)
    if not paths:
        raise SystemExit(f"no notebooks match {args.notebooks}")
    site = args.out
    site.mkdir(parents=True, exist_ok=True)
    mj = mathjax(site)
    lib_hash = _library_hash()
    modes = {p.name[:2]: "smoke" if args.smoke else MODES.get(p.name[:2], "default") for p in paths}
    executed, seconds, failed = {}, {}, []
    figure_record = json.loads(PAGE_FIGURES.read_text()) if PAGE_FIGURES.exists() else {}
    t_all = time.time()
    for p in paths:
        nn = p.name[:2]
        print(f"{p.name}: executing in {modes[nn]} mode ...", flush=True)
        try:
            nb, secs, hit = execute(p, modes[nn], args.force, lib_hash, stale_ok=args.from_cache)
        except Exception as e:  # report every failing notebook, then fail
            print(f"{p.name}: FAILED\n{str(e)[-3000:]}", file=sys.stderr)
            failed.append(p.name)
            continue
        problem = None if args.record_figures else missing_figures(p.stem, modes[nn], nb, figure_record)
        if problem:
            print(f"{p.name}: FAILED\n{problem}", file=sys.stderr)
            failed.append(p.name)
            continue
        executed[nn], seconds[nn] = nb, secs
        print(f"{p.name}: {'cached run of ' if hit else ''}{secs:.0f} s, "
              f"{notebook_exec.figure_count(nb)} figure(s)", flush=True)
    if args.record_figures:
        record_figures(executed, modes, paths)
    built = [p for p in paths if p.name[:2] in executed]
    pages = [(p.stem + ".html", title_of(executed[p.name[:2]], p.stem)) for p in built]
    repo_note = "scripts/build_site.py"
    # the decks: every notebook built, from the same executed runs
    if mj.startswith("http"):
        raise SystemExit("the slides need MathJax served by the site: pip install jupyter-server-mathjax")
    reveal_assets(site)
    (site / "slides").mkdir(exist_ok=True)
    decks = set()
    for (page, title), p in zip(pages, built):
        deck = render_deck(executed[p.name[:2]], p.stem, title, mj)
        n = slide_count(deck)
        if n < MIN_SLIDES:
            print(f"{p.name}: FAILED\nits deck has {n} slide(s), fewer than {MIN_SLIDES}: mark the cells that "
                  "start slides (cell metadata slideshow.slide_type, see CONTRIBUTING.md)", file=sys.stderr)
            failed.append(p.name)
        (site / "slides" / page).write_text(deck)
        decks.add(page)
        print(f"{p.name}: deck slides/{page}, {n} slides", flush=True)
    if args.slides_only:
        print(f"slides: {site}/slides/, {len(decks)} deck(s), {time.time() - t_all:.0f} s in all ({repo_note})")
        return _report(failed)
    notes = {}
    for i, p in enumerate(built):
        nn = p.name[:2]
        mode = modes[nn]
        note = (f"Executed top to bottom in <b>{mode}</b> mode in {seconds[nn]:.0f} s by <code>make site</code>"
                + (" (smoke mode: tiny sizes, so the figures show the code working, not a trained result)"
                   if mode == "smoke" else "") + f"; the notebook itself: <code>notebooks/{p.name}</code>; "
                f'as lecture slides: <a class="deck" href="slides/{pages[i][0]}">slides/{pages[i][0]}</a>.')
        notes[pages[i][0]] = f"({mode} mode)"
        (site / pages[i][0]).write_text(render_page(executed[nn], p.stem, pages, i, note, mj))
    docs = set()
    for page, (src, _) in DOC_PAGES.items():
        if (ROOT / src).exists():
            (site / page).write_text(render_doc(page, set(executed), mj))
            docs.add(page)
    out_dirs = [site / "figures"] + ([] if args.smoke else [FIGURES_DIR])
    figures = export_figures(executed, modes, out_dirs)
    for fname, _ in figures:      # the gallery shows the committed figures when this build made none
        if not (site / "figures" / fname).exists():
            (site / "figures").mkdir(exist_ok=True)
            shutil.copy2(FIGURES_DIR / fname, site / "figures" / fname)
    (site / "index.html").write_text(build_index(pages, figures, notes, decks, docs))
    (site / ".nojekyll").write_text("")
    print(f"site: {site}/index.html, {len(pages)} page(s), {len(decks)} deck(s), {len(docs)} guide page(s), "
          f"{time.time() - t_all:.0f} s in all ({repo_note})")
    return _report(failed)


def _report(failed: list) -> int:
    if failed:
        print("FAILED:", *failed, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
