"""The explorers of notebooks 01 and 04 (gan_utils.lessons.widgets and the cells that use it)."""
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from gan_utils.lessons import widgets  # noqa: E402

W = pytest.importorskip("ipywidgets")
ROOT = Path(__file__).resolve().parents[1]


def test_dropdown_starts_on_the_static_value_not_the_first_option():
    # guards against: notebook 04's explorer showing "slerp" while its figure was drawn with "linear"
    control = widgets._make_control("method", ["slerp", "linear"], "linear")
    assert isinstance(control, W.Dropdown) and control.value == "linear"
    assert widgets._make_control("method", ("slerp", "linear"), "linear").value == "linear"
    assert widgets._make_control("k", {"one": 1, "two": 2}, 2).value == 2


def test_dropdown_value_that_is_not_an_option_is_one_clear_error():
    with pytest.raises(ValueError, match="not one of the dropdown's options"):
        widgets._make_control("method", ["slerp", "linear"], "lerp")


def test_sliders_start_on_the_static_value():
    s = widgets._make_control("t", (0.0, 1.0, 0.05), 0.5)
    assert isinstance(s, W.FloatSlider) and s.value == 0.5 and not s.continuous_update
    assert isinstance(widgets._make_control("seed", (0, 99, 1), 7), W.IntSlider)


def test_interactive_explorer_controls_match_the_static_call(monkeypatch):
    monkeypatch.setenv("GAN_COURSE_WIDGETS", "1")

    def frontend_shows(obj, *a, **k):
        # ipywidgets 7 (Colab's 7.7.1, our floor) draws the first figure when a frontend displays the
        # widget; 8 draws it when the widget is built. Act as the frontend for both.
        getattr(obj, "_handle_displayed", lambda: None)()

    monkeypatch.setattr("IPython.display.display", frontend_shows)
    seen = []
    w = widgets.interactive_or_static(lambda **kw: seen.append(kw), dict(seed_a=3, t=0.5, method="linear"),
                                      seed_a=(0, 99, 1), t=(0.0, 1.0, 0.05), method=["slerp", "linear"])
    values = {c.description: c.value for c in w.children if hasattr(c, "value") and c.description}
    assert values == {"seed_a": 3, "t": 0.5, "method": "linear"}
    assert seen[-1] == dict(seed_a=3, t=0.5, method="linear")
    [t] = [c for c in w.children if getattr(c, "description", "") == "t"]
    t.value = 0.25                                       # moving a slider redraws with the new value
    assert seen[-1] == dict(seed_a=3, t=0.25, method="linear")
    plt.close("all")


def test_arguments_without_a_control_are_passed_fixed(monkeypatch):
    monkeypatch.setenv("GAN_COURSE_WIDGETS", "1")
    monkeypatch.setattr("IPython.display.display",
                        lambda obj, *a, **k: getattr(obj, "_handle_displayed", lambda: None)())
    calls = []
    w = widgets.interactive_or_static(lambda mean, label: calls.append((mean, label)), {"mean": 1.5, "label": "p_g"},
                                      mean=(-4.0, 4.0, 0.1))
    assert calls[-1] == (1.5, "p_g")
    assert {c.description for c in w.children if getattr(c, "description", "")} == {"mean"}
    plt.close("all")


def _cells_of_01(*markers):
    nb = json.loads((ROOT / "notebooks" / "01_minimax.ipynb").read_text())
    out = []
    for m in markers:
        found = [("".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "code" and m in "".join(c["source"])]
        assert len(found) == 1, f"notebook 01: {len(found)} code cells contain {m!r}"
        out.append(found[0])
    return out


def test_minimax_explorer_shows_all_of_p_g_at_the_sliders_extremes(monkeypatch):
    # guards against: p_g cut off at the left edge of notebook 01's explorer when mean_g = -6
    monkeypatch.setenv("GAN_COURSE_WIDGETS", "0")
    ns = {"gan_utils": __import__("gan_utils")}
    for src in _cells_of_01("# parameters", "from gan_utils.lessons import theory",
                            "x, dx = theory.grid(**GRID)", "def draw_minimax(mean_g, std_g):"):
        src = "\n".join(line for line in src.splitlines() if not line.lstrip().startswith(("%", "!")))
        exec(src, ns)
        plt.close("all")
    for mean, std in [(-6.0, 3.0), (-6.0, 0.3), (8.0, 3.0), (3.0, 1.0)]:
        ns["draw_minimax"](mean, std)
        ax = plt.gcf().axes[0]
        lo, hi = ax.get_xlim()
        assert lo <= mean - 3 * std and hi >= mean + 3 * std, f"p_g = N({mean}, {std}^2) cut off: view {lo:.1f}..{hi:.1f}"
        assert lo <= -3 and hi >= 3, "p_data = N(0, 1) must stay in view"
        plt.close("all")
