"""A learner's first hour in a real browser: JupyterLab started the way `make course` starts it,
notebooks 01 and 04 Run All (smoke sizes, widgets forced on), no error output, the explorers'
sliders are live widgets, and moving one redraws the figure."""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT, SCREENSHOTS, free_port

sys.path.insert(0, str(ROOT / "scripts"))
import course  # noqa: E402

TOKEN = "browser-test-token"

# JavaScript run in the page; `window.jupyterapp` exists because of --LabApp.expose_app_in_browser.
STATE_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const errors = [];
  cells.forEach((c, i) => c.model.outputs.toJSON().forEach(o => {
    if (o.output_type === 'error') errors.push(`code cell ${i}: ${o.ename}: ${o.evalue}`);
  }));
  return {
    kernel: kernel ? kernel.status : 'none',
    cells: cells.length,
    executed: cells.filter(c => c.model.executionCount !== null).length,
    running: cells.filter(c => c.promptNode && c.promptNode.textContent.includes('*')).length,
    errors,
  };
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on a working copy of the notebooks, with the command line of `make course`."""
    tmp = tmp_path_factory.mktemp("lab")
    work = tmp / "my-notebooks"
    course.ensure_working_copy(dst=work)
    port = free_port()
    env = course.launch_env({
        **os.environ,
        "GAN_COURSE_SMOKE": "1", "GAN_COURSE_WIDGETS": "1",
        "GAN_COURSE_CHECKPOINTS": str(tmp / "checkpoints"),   # 04 trains its tiny smoke DCGAN here
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
        "JUPYTER_ARGS": f"--port={port} --IdentityProvider.token={TOKEN} --LabApp.expose_app_in_browser=True",
    })
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    cmd = course.jupyter_command(work, env=env)
    assert "--no-browser" in cmd and ("--allow-root" in cmd) == (os.geteuid() == 0)
    log = open(tmp / "jupyter.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=5) as r:
                json.load(r)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail("JupyterLab did not start:\n" + (tmp / "jupyter.log").read_text()[-3000:])
            time.sleep(1)
    yield base, work
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    shutil.rmtree(tmp, ignore_errors=True)


def run_all(page, base, name, timeout_s=420):
    # ?reset: a fresh workspace, so this notebook is the only tab and the current widget
    page.goto(f"{base}/lab/tree/{name}?reset&token={TOKEN}")
    page.wait_for_function(f"""() => window.jupyterapp && window.jupyterapp.shell.currentWidget
                           && window.jupyterapp.shell.currentWidget.title.label === '{name}'
                           && window.jupyterapp.shell.currentWidget.sessionContext""", timeout=120_000)
    page.wait_for_function(f"() => {{ const s = ({STATE_JS})(); return s && s.kernel === 'idle'; }}", timeout=120_000)
    # the committed notebook carries the recorded runs of its checked cells: clear them, so that
    # "every code cell has an execution count" means this Run All reached it
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    page.wait_for_function(f"() => ({STATE_JS})().executed === 0", timeout=30_000)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    t0, state = time.time(), None
    while time.time() - t0 < timeout_s:
        page.wait_for_timeout(1000)
        state = page.evaluate(STATE_JS)
        if state["errors"]:
            break
        if state["running"] == 0 and state["kernel"] == "idle" and state["executed"] == state["cells"]:
            break
    page.screenshot(path=str(SCREENSHOTS / f"lab_{Path(name).stem}.png"))
    assert not state["errors"], f"{name}: error output after Run All: {state['errors']}"
    assert state["executed"] == state["cells"], f"{name}: Run All did not finish in {timeout_s} s: {state}"
    return time.time() - t0


def figure_of(page, interact):
    return interact.locator(".widget-output img").first.get_attribute("src")


def move_slider(slider, key, times):
    """Move a slider as a keyboard user does: focus its handle, press PageUp/PageDown (5 steps each)."""
    handle = slider.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    for _ in range(times):
        handle.press(key)


def assert_slider_redraws(page, name, description, key, times=2):
    interact = page.locator(".widget-interact").first
    interact.wait_for(timeout=60_000)
    slider = interact.locator(".widget-slider", has=page.locator(f"label:text-is('{description}')")).first
    assert slider.count() == 1, f"{name}: no live slider {description!r} (widgets did not render)"
    readout = slider.locator(".widget-readout").first
    before_value, before_img = readout.inner_text(), figure_of(page, interact)
    assert before_img, f"{name}: the explorer shows no figure"
    move_slider(slider, key, times)
    page.wait_for_function("([el, v]) => el.innerText !== v", arg=[readout.element_handle(), before_value],
                           timeout=30_000)
    t0 = time.time()
    while figure_of(page, interact) == before_img:
        assert time.time() - t0 < 120, f"{name}: moving {description} ({before_value} -> {readout.inner_text()}) " \
                                       "did not redraw the figure"
        page.wait_for_timeout(500)
    page.screenshot(path=str(SCREENSHOTS / f"lab_{name}_after_slider.png"))
    return before_value, readout.inner_text()


def test_notebook_01_runs_in_jupyterlab_and_its_sliders_redraw_the_figure(lab, browser):
    base, _ = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    secs = run_all(page, base, "01_minimax.ipynb")
    # issue 33: JupyterLab opens the notebook with the set-up cell's source collapsed (jupyter.source_hidden)
    assert page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets"
                         ".find(c => c.model.type === 'code').inputHidden") is True
    sliders = page.locator(".widget-interact .widget-slider")
    assert sliders.count() == 2, f"01: expected the mean_g and std_g sliders, found {sliders.count()}"
    before, after = assert_slider_redraws(page, "01", "mean_g", "PageDown")
    print(f"01: Run All {secs:.0f} s; mean_g {before} -> {after}, figure redrawn")
    page.close()


def test_notebook_04_runs_in_jupyterlab_and_its_latent_explorer_redraws(lab, browser):
    base, _ = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    secs = run_all(page, base, "04_dcgan.ipynb")
    interact = page.locator(".widget-interact").first
    # the dropdown starts where the static call says: method="linear" (it used to show "slerp")
    assert interact.locator("select").first.input_value() == "linear"
    assert interact.locator(".widget-slider").count() == 3, "04: expected seed_a, seed_b and t sliders"
    before, after = assert_slider_redraws(page, "04", "t", "PageDown")
    print(f"04: Run All {secs:.0f} s; t {before} -> {after}, figure redrawn")
    page.close()
