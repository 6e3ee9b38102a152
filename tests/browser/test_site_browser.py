"""The course website in a real browser: a smoke-mode build of notebooks 00 and 01 (the full build
is `make site`), served on localhost with no network: the index renders and links the pages, a
notebook page shows its figures and typesets its equations, previous/next links work."""
import subprocess
import sys
import time

import pytest

from .conftest import ROOT, SCREENSHOTS, free_port


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_site.py"), "--smoke", "00", "01", "--out", str(out)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(out)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(10)


def loaded_images(page):
    return page.evaluate("Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length")


def test_index_renders_and_links_the_notebooks(site, browser):
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(f"{site}/index.html")
    assert "GANs in PyTorch" in page.title()
    links = page.locator("#notebooks a")
    assert links.count() == 2
    page.screenshot(path=str(SCREENSHOTS / "site_index.png"), full_page=True)
    broken = page.evaluate("Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
                           ".map(i => i.src)")
    assert not broken, f"broken images on the index: {broken}"
    links.nth(1).click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/01_minimax.html")
    page.close()


def test_notebook_page_shows_figures_and_typeset_equations(site, browser):
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(f"{site}/01_minimax.html")
    # MathJax (served by the site itself) has typeset the TeX: rendered math elements, no raw $...$
    page.wait_for_function("() => document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML').length > 20",
                           timeout=60_000)
    text = "\n".join(page.locator(".jp-RenderedMarkdown").all_inner_texts())
    assert "\\frac" not in text and "$D^*" not in text, "raw TeX left in the text cells"
    assert loaded_images(page) >= 4, "the page shows its figures"
    page.screenshot(path=str(SCREENSHOTS / "site_01_minimax.png"))
    # previous / index / next
    page.locator("nav.course-nav.top a", has_text="Course index").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/index.html")
    page.goto(f"{site}/00_setup.html")
    page.locator("nav.course-nav.top a").last.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/01_minimax.html")
    page.close()
