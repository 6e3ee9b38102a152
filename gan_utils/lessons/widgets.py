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

from gan_utils.runtime import env_flag


def _ci() -> bool:
    # CI services set CI to "true", "1" or a name of their own ("woodpecker"): any value but a "no" counts
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def widgets_available() -> bool:
    """True when sliders can be drawn and someone is there to move them (rule in the module doc)."""
    forced = env_flag("GAN_COURSE_WIDGETS", default=None)    # None: unset, decide below
    if forced is False:
        return False
    if forced is None and (_ci() or env_flag("GAN_COURSE_SMOKE")):
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True if forced else _in_kernel()


def _make_control(name: str, spec, value):
    """The widget for one argument, starting at ``value`` (the static figure's):

    * ``(min, max, step)``: a slider (int or float by the types) that redraws on release;
    * a list, or a tuple that is not a numeric triple, of options, or a ``{label: value}`` dict:
      a dropdown. (Passing the list itself to ``ipywidgets.interactive`` would start it on the
      *first* option whatever ``value`` says: the widgets would not match the figure's call.);
    * anything else (a widget, another ``ipywidgets.interactive`` abbreviation): returned as is.
    """
    import ipywidgets as W

    if isinstance(spec, tuple) and len(spec) == 3 and all(isinstance(v, (int, float)) for v in spec):
        lo, hi, step = spec
        cls = W.IntSlider if all(isinstance(v, int) for v in spec) else W.FloatSlider
        kw = dict(min=lo, max=hi, step=step, description=name, continuous_update=False)
        if value is not None:
            kw["value"] = value
        return cls(**kw)
    if isinstance(spec, (list, tuple, dict)):
        values = list(spec.values()) if isinstance(spec, dict) else [o[1] if isinstance(o, tuple) else o for o in spec]
        if value is not None and value not in values:
            raise ValueError(f"{name}={value!r} is not one of the dropdown's options {values}: "
                             f"pick one of them in static_kwargs")
        kw = dict(options=spec if isinstance(spec, dict) else list(spec), description=name)
        if value is not None:
            kw["value"] = value
        return W.Dropdown(**kw)
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
