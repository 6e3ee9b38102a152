"""Interactive controls that degrade to a static figure: one helper, :func:`interactive_or_static`.

Used by notebooks/01_minimax.ipynb (sliders for the mean and std of p_g redraw D* and the generator
losses) and notebooks/04_dcgan.ipynb (a latent-space explorer).

When are widgets shown? :func:`widgets_available` decides, in this order:

1. ``GAN_COURSE_WIDGETS=0`` (or ``1``) forces static (or interactive) output, e.g. set it to 0 when
   executing notebooks into HTML or a plain viewer, where a widget would show as a dead text repr;
2. otherwise static under CI and test runs: ``CI`` or ``GAN_COURSE_SMOKE`` set (nbval runs);
3. otherwise static when ``ipywidgets`` cannot be imported;
4. otherwise static unless the code runs in a Jupyter **kernel** (an IPython shell with a comm
   channel to a frontend: Jupyter, JupyterLab, VS Code, Colab); a terminal IPython or a plain
   ``python`` process has no frontend to draw sliders in.

The static path calls ``draw_fn(**static_kwargs)`` once, so a reader of a rendered notebook still
sees a representative figure.
"""
from __future__ import annotations

import functools
import os

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _env(name: str) -> str:
    return os.environ.get(name, "").strip().lower()


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def widgets_available() -> bool:
    """True when sliders can be drawn and someone is there to move them (rule in the module doc)."""
    forced = _env("GAN_COURSE_WIDGETS")
    if forced in _FALSE:
        return False
    if forced not in _TRUE:
        if _env("CI") not in ("", *_FALSE) or _env("GAN_COURSE_SMOKE") not in ("", *_FALSE):
            return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return _in_kernel() if forced not in _TRUE else True


def _make_control(name: str, spec, value):
    """A slider from ``(min, max, step)`` (float or int by the types), or ``spec`` itself if it is
    already a widget or another ``ipywidgets.interactive`` abbreviation (list of options, ...)."""
    import ipywidgets as W

    if isinstance(spec, tuple) and len(spec) == 3 and all(isinstance(v, (int, float)) for v in spec):
        lo, hi, step = spec
        cls = W.IntSlider if all(isinstance(v, int) for v in spec) else W.FloatSlider
        kw = dict(min=lo, max=hi, step=step, description=name, continuous_update=False)
        if value is not None:
            kw["value"] = value
        return cls(**kw)
    return spec


def interactive_or_static(draw_fn, static_kwargs: dict, **sliders):
    """Show ``draw_fn`` under sliders when widgets are available, else draw it once statically.

    ``draw_fn(**kwargs)`` draws one matplotlib figure (it need not call ``plt.show()``; this helper
    does). ``static_kwargs`` gives every argument's value for the static figure and the sliders'
    starting values; arguments without a slider stay fixed at these values. Each slider is
    ``name=(min, max, step)`` (a float or int slider that redraws on release) or any
    ``ipywidgets.interactive`` abbreviation or widget.

    Returns the ``ipywidgets.interactive`` (already displayed) or ``None`` after the static
    figure. Assign the result (``explorer = interactive_or_static(...)``) so Jupyter does not
    display the widget a second time.
    """
    import matplotlib.pyplot as plt

    unknown = set(sliders) - set(static_kwargs)
    if unknown:
        raise ValueError(f"sliders {sorted(unknown)} have no value in static_kwargs")

    @functools.wraps(draw_fn)
    def draw_and_show(**kwargs):
        draw_fn(**kwargs)
        plt.show()

    if not widgets_available():
        draw_and_show(**static_kwargs)
        return None

    import ipywidgets as W
    from IPython.display import display

    controls = {name: (_make_control(name, sliders[name], static_kwargs[name]) if name in sliders
                       else W.fixed(value))
                for name, value in static_kwargs.items()}
    widget = W.interactive(draw_and_show, **controls)
    display(widget)
    return widget
