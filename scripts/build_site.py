#!/usr/bin/env python3
"""Build the browsable course (``make site``): execute the notebooks, render them to HTML with
their figures and typeset equations, add an index page and previous/next navigation, and refresh
the README's key figures in ``docs/figures/``.

    python scripts/build_site.py                   # every notebook in its mode from MODES -> build/site/
    python scripts/build_site.py 01 04             # only these (navigation links the pages built)
    python scripts/build_site.py --smoke 01        # all in smoke mode: a quick check, never touches docs/figures
    python scripts/build_site.py --force           # re-execute even notebooks whose cached run is current
    python scripts/build_site.py --from-cache      # re-render from the cached runs, stale or not

Executed notebooks are cached in ``build/site-cache/`` under a key made of the notebook, its mode
and the gan_utils sources, so a second build re-executes only what changed. Widgets are off
(``GAN_COURSE_WIDGETS=0``): a static page shows each explorer's representative figure. MathJax is
served from the site itself (the ``jupyter-server-mathjax`` package's copy), so pages typeset
their equations offline too. ``.github/workflows/pages.yml`` publishes ``build/site`` to GitHub Pages.
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

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "build" / "site"
CACHE = ROOT / "build" / "site-cache"
FIGURES_DIR = ROOT / "docs" / "figures"
FIGURES_INDEX = FIGURES_DIR / "figures.json"

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
    from nbclient import NotebookClient

    from gan_utils.runtime import temporary_env

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
    with temporary_env(GAN_COURSE_WIDGETS="0", OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
                       **MODE_ENV[mode]):           # the kernel inherits this process's environment
        NotebookClient(nb, timeout=None, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    seconds = time.time() - t0
    CACHE.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, cached)
    meta.write_text(json.dumps({"key": key, "mode": mode, "seconds": round(seconds, 1)}))
    return nb, seconds, False


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


def render_page(nb, name: str, pages, i: int, note: str, mathjax_url: str) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    exporter.mathjax_url = mathjax_url
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": name}})
    # Scripts the pages do not need (no widget state is embedded; no mermaid diagrams); they come
    # from a CDN and would only fail offline.
    body = re.sub(r'<script src="[^"]*require[^"]*"></script>\s*', "", body)
    body = re.sub(r'<script type="module">[^<]*mermaid[^<]*</script>\s*', "", body, flags=re.S)
    body = body.replace("</head>", f"<style>{SITE_CSS}</style>\n</head>", 1)
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


def build_index(pages, figures: list[tuple[str, str]], notes: dict) -> str:
    title, intro, syllabus = readme_html({p[0][:2]: p for p in pages})
    items = "\n".join(f'<li><a href="{href}">{html.escape(t)}</a> <span class="mode">{html.escape(notes[href])}</span></li>'
                      for href, t in pages)
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
        executed[nn], seconds[nn] = nb, secs
        print(f"{p.name}: {'cached run of ' if hit else ''}{secs:.0f} s", flush=True)
    built = [p for p in paths if p.name[:2] in executed]
    pages = [(p.stem + ".html", title_of(executed[p.name[:2]], p.stem)) for p in built]
    repo_note = "scripts/build_site.py"
    notes = {}
    for i, p in enumerate(built):
        nn = p.name[:2]
        mode = modes[nn]
        note = (f"Executed top to bottom in <b>{mode}</b> mode in {seconds[nn]:.0f} s by <code>make site</code>"
                + (" (smoke mode: tiny sizes, so the figures show the code working, not a trained result)"
                   if mode == "smoke" else "") + f"; the notebook itself: <code>notebooks/{p.name}</code>.")
        notes[pages[i][0]] = f"({mode} mode)"
        (site / pages[i][0]).write_text(render_page(executed[nn], p.stem, pages, i, note, mj))
    out_dirs = [site / "figures"] + ([] if args.smoke else [FIGURES_DIR])
    figures = export_figures(executed, modes, out_dirs)
    for fname, _ in figures:      # the gallery shows the committed figures when this build made none
        if not (site / "figures" / fname).exists():
            (site / "figures").mkdir(exist_ok=True)
            shutil.copy2(FIGURES_DIR / fname, site / "figures" / fname)
    (site / "index.html").write_text(build_index(pages, figures, notes))
    (site / ".nojekyll").write_text("")
    print(f"site: {site}/index.html, {len(pages)} page(s), {time.time() - t_all:.0f} s in all ({repo_note})")
    if failed:
        print("FAILED:", *failed, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
