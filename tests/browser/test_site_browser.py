"""The course website in a real browser: a smoke-mode build of notebooks 00 and 01 (the full build
is `make site`), served on localhost with no network: the index renders and links the pages, a
notebook page shows its figures and typesets its equations, its set-up cell is a one-line summary
that expands on click, previous/next links work, and a slide deck pages forward with typeset
equations and figures, loading nothing from outside the site."""
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
    links = page.locator("#notebooks a:not(.deck)")          # each item also links its slide deck
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


def test_set_up_cell_is_collapsed_to_its_summary_and_expands_on_click(site, browser):
    # issue 33: the lesson first, the 44-line set-up cell out of the way
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(f"{site}/01_minimax.html")
    details = page.locator("details.course-collapsed")
    assert details.count() == 1
    summary = details.locator("summary")
    assert summary.inner_text().strip() == "Set-up: installs gan_utils on Colab, picks the device, seeds"
    code = details.locator(".jp-InputArea")
    assert not code.is_visible(), "the set-up code shows before a click"
    summary.click()
    code.wait_for(state="visible", timeout=5000)
    assert "COURSE_REPO" in code.inner_text()
    page.close()


def test_a_deck_pages_forward_with_typeset_equations_and_figures_offline(site, browser):
    # issue 30: the decks work in a real browser, from the site alone
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((site, "data:", "about:")) else None)
    page.goto(f"{site}/slides/01_minimax.html")
    page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=60_000)
    total = page.evaluate("Reveal.getTotalSlides()")
    assert total >= 8, f"{total} slides"
    typeset, figures = 0, 0
    for i in range(total):
        page.wait_for_timeout(300)
        current = "Reveal.getCurrentSlide()"
        typeset = max(typeset, page.evaluate(
            f"{current}.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML, .MathJax_SVG').length"))
        figures += page.evaluate(f"Array.from({current}.querySelectorAll('img'))"
                                 ".filter(i => i.complete && i.naturalWidth > 0).length")
        if i == 2:
            page.screenshot(path=str(SCREENSHOTS / "slides_01_minimax.png"))
        page.keyboard.press("ArrowRight")     # next slide (or sub-slide)
    assert page.evaluate("Reveal.isLastSlide()") or page.evaluate("Reveal.getSlidePastCount()") >= total - 1
    assert typeset > 0, "no typeset equation on any slide"
    assert figures > 0, "no figure on any slide"
    text = page.locator(".reveal .slides").inner_text()
    assert "$D^*" not in text and "\\frac" not in text, "raw TeX on the slides"
    assert not outside, f"the deck requested addresses outside the site: {outside[:5]}"
    page.close()


def test_the_guide_and_the_chinese_entry_are_pages_of_the_site(site, browser):
    page = browser.new_page()
    for name, text in (("teaching.html", "A plan of 14 meetings"), ("zh.html", "中英术语对照")):
        page.goto(f"{site}/{name}")
        assert text in page.locator("body").inner_text()
    page.goto(f"{site}/index.html")
    assert page.locator('#lecture a[href="teaching.html"]').count() == 1
    assert page.locator('#notebooks a.deck').count() == 2
    page.close()
