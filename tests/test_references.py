"""The reading list: every [Key] cited in a notebook or the README is in references.bib, and the
bibliography holds the course's required papers with the right venues."""
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CITE = re.compile(r"\[([A-Z][A-Za-z]+\d{4}[a-z]?)\]")


def bib_entries():
    text = (ROOT / "references.bib").read_text()
    entries = {}
    for m in re.finditer(r"@\w+\{(\w+),(.*?)\n\}", text, flags=re.S):
        fields = dict(re.findall(r"(\w+)\s*=\s*\{(.*?)\}\s*,?\s*$", m.group(2), flags=re.M))
        entries[m.group(1)] = fields
    return entries


def sources():
    yield "README.md", (ROOT / "README.md").read_text()
    for doc in ("docs/teaching.md", "docs/zh/README.md"):      # the lecturer's guide, the Chinese entry
        if (ROOT / doc).exists():
            yield doc, (ROOT / doc).read_text()
    for p in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(p, as_version=4)
        yield p.name, "\n".join(c.source for c in nb.cells)


@pytest.mark.parametrize("name,text", list(sources()), ids=lambda x: x if isinstance(x, str) and len(x) < 40 else "")
def test_every_citation_is_in_the_bibliography(name, text):
    missing = sorted(set(CITE.findall(text)) - set(bib_entries()))
    assert not missing, f"{name} cites keys missing from references.bib: {missing}"


REQUIRED = {
    "Goodfellow2014": ("Generative Adversarial Nets", "NeurIPS 2014", "Goodfellow"),
    "Radford2016": ("Deep Convolutional Generative Adversarial Networks", "ICLR 2016", "Chintala"),
    "Salimans2016": ("Improved Techniques for Training GANs", "NeurIPS 2016", "Salimans"),
    "Arjovsky2017": ("Wasserstein Generative Adversarial Networks", "ICML 2017", "Bottou"),
    "Gulrajani2017": ("Improved Training of Wasserstein GANs", "NeurIPS 2017", "Gulrajani"),
    "Heusel2017": ("Two Time-Scale Update Rule", "NeurIPS 2017", "Heusel"),
    "Miyato2018": ("Spectral Normalization for Generative Adversarial Networks", "ICLR 2018", "Miyato"),
    "Lucic2018": ("Are GANs Created Equal", "NeurIPS 2018", "Lucic"),
    "Karras2018": ("Progressive Growing of GANs", "ICLR 2018", "Karras"),
    "Zhu2017": ("Cycle-Consistent Adversarial Networks", "ICCV 2017", "Efros"),
    "Karras2019": ("A Style-Based Generator Architecture", "CVPR 2019", "Laine"),
    "Yu2017": ("SeqGAN", "AAAI 2017", "Yu"),
    "Kynkaanniemi2019": ("Improved Precision and Recall Metric", "NeurIPS 2019", "Kynk"),
}


@pytest.mark.parametrize("key", sorted(REQUIRED))
def test_required_reference_has_title_venue_and_author(key):
    e = bib_entries().get(key)
    assert e is not None, f"{key} missing from references.bib"
    title, venue, author = REQUIRED[key]
    assert title in e["title"]
    assert venue in e.get("booktitle", e.get("journal", ""))
    assert author in e["author"]


def test_readme_reference_list_covers_the_bibliography():
    readme = (ROOT / "README.md").read_text()
    assert set(bib_entries()) <= set(CITE.findall(readme))


def test_readme_syllabus_table_is_generated_from_the_slug():
    sys.path.insert(0, str(ROOT / "scripts"))
    import sync_notebooks
    readme = (ROOT / "README.md").read_text()
    for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert sync_notebooks.badge_url(p.name) in readme, f"README lacks the Colab badge of {p.name}"
