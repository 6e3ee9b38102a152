"""One home for running the course's notebooks outside JupyterLab: every script that executes them
(``make site`` and ``make slides`` through build_site.py, measure_runtimes.py, ``sync_notebooks.py
--record``) calls :func:`execute`, and ``make course`` starts its kernels with :func:`kernel_env`.

Why: a kernel inherits the caller's environment. In a shell with ``MPLBACKEND=Agg`` (common on
headless servers and in CI images) ipykernel keeps that backend instead of its inline one, so
``plt.show()`` draws nothing and a rendered page has no figures although the run "succeeded".
The executors therefore always run kernels with the inline backend; ``make course`` replaces only a
backend that cannot draw into a notebook (Agg and the file backends), so a learner's own choice of
an interactive one (``MPLBACKEND=module://ipympl.backend_nbagg``) is kept.
"""
from __future__ import annotations

import os
from pathlib import Path

#: matplotlib's backend for Jupyter kernels: figures become image outputs of the cell.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
#: Backends that draw nothing into a notebook: they write files or nothing at all.
NON_NOTEBOOK_BACKENDS = {"agg", "pdf", "pgf", "ps", "svg", "cairo", "template"}


def kernel_env(env=None, *, force_inline: bool = False) -> dict:
    """A copy of ``env`` (default: this process's) for starting notebook kernels: MPLBACKEND is the
    inline backend when ``force_inline`` or when the caller's backend cannot draw into a notebook."""
    env = dict(os.environ if env is None else env)
    backend = env.get("MPLBACKEND", "").strip()
    if force_inline or backend.lower() in NON_NOTEBOOK_BACKENDS:
        env["MPLBACKEND"] = INLINE_BACKEND
    return env


def execute(nb, cwd: Path, timeout=None, **env: str):
    """Execute the notebook node ``nb`` in place, top to bottom, in a fresh ``python3`` kernel whose
    working folder is ``cwd``, with ``env`` added to the environment and figures drawn inline
    whatever the caller's MPLBACKEND. Returns ``nb``."""
    from nbclient import NotebookClient

    from gan_utils.runtime import temporary_env

    with temporary_env(MPLBACKEND=INLINE_BACKEND, **env):     # the kernel inherits this process's environment
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def figure_count(nb) -> int:
    """How many figures (image outputs) an executed notebook shows."""
    return sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if any(k.startswith("image/") for k in o.get("data", {})))
