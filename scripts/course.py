#!/usr/bin/env python3
"""Open the course in JupyterLab on the learner's own, git-ignored copy of the notebooks.

``make course`` runs ``python scripts/course.py open``: it copies every ``notebooks/NN_*.ipynb``
that is not yet in ``my-notebooks/`` (created on the first run; a notebook already there is never
overwritten, so edits, outputs and filled-in exercises survive ``git pull``), then starts JupyterLab
on ``my-notebooks/``. The committed ``notebooks/`` stay as they are, so ``make test`` and ``git pull``
keep working however much a learner saves. ``my-notebooks/`` sits beside ``notebooks/``, so the
notebooks' relative paths (``%load ../solutions/04_dcgan.py``) work the same in both;
``gan_utils.checkpoint_dir()`` does not depend on the notebook's folder.

    python scripts/course.py open [--dry-run]     # what `make course` runs
    python scripts/course.py fresh 04             # `make fresh NB=04`: a fresh copy of notebook 04;
                                                  # the old copy is kept in my-notebooks/old/
    python scripts/course.py check-tracked        # `make test` runs it first: one message when the
                                                  # tracked notebooks carry a learner's saved run
    python scripts/course.py move-edits           # `make move-edits`: that work to my-notebooks/,
                                                  # notebooks/ restored with git

JupyterLab's command line: ``--allow-root`` when run as root (containers, cloud VMs), ``--no-browser``
on Linux without a display (nothing could open one there), then the words of ``$JUPYTER_ARGS``
(e.g. ``JUPYTER_ARGS="--ip=0.0.0.0 --port=9000"``), which come last and so win. The address with
its token is printed in a box once the server is up. ``OMP_WAIT_POLICY=PASSIVE`` is set for the
kernels unless already set (idle OpenMP threads sleep instead of spinning on a busy CPU), and a
matplotlib backend that draws nothing into a notebook (``MPLBACKEND=Agg``) is replaced by the inline one.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
WORKDIR = ROOT / "my-notebooks"
#: The address JupyterLab prints once it is up, with its token if it has one.
URL_RE = re.compile(r"https?://[^\s/]+/lab(?:\?token=[\w-]+)?")


def committed_notebooks(src: Path = NOTEBOOKS) -> list[Path]:
    return sorted(src.glob("[0-9][0-9]_*.ipynb"))


def ensure_working_copy(src: Path = NOTEBOOKS, dst: Path = WORKDIR) -> list[Path]:
    """Copy the committed notebooks that ``dst`` lacks; never overwrite one. Returns the new copies."""
    dst.mkdir(parents=True, exist_ok=True)
    copied = []
    for nb in committed_notebooks(src):
        target = dst / nb.name
        if not target.exists():
            shutil.copy2(nb, target)
            copied.append(target)
    return copied


def fresh_copy(which: str, src: Path = NOTEBOOKS, dst: Path = WORKDIR) -> tuple[Path, Path | None]:
    """Replace the working copy of notebook ``which`` (``04``, ``4`` or a file name) with the
    committed one; an existing copy is moved to ``dst/old/`` first. Returns (new copy, old copy)."""
    key = which.strip()
    key = Path(key).name if key.endswith(".ipynb") else (key.zfill(2) if key.isdigit() else key)
    matches = [nb for nb in committed_notebooks(src) if nb.name == key or nb.name.startswith(key + "_")]
    if len(matches) != 1:
        names = ", ".join(nb.name[:2] for nb in committed_notebooks(src))
        raise SystemExit(f"no single notebook {which!r} in {src}: use its number, one of {names}")
    return copy_keeping_old(matches[0], dst)


def copy_keeping_old(nb: Path, dst: Path) -> tuple[Path, Path | None]:
    """Copy ``nb`` into ``dst``; a copy already there moves to ``dst/old/`` (with the time) first.
    Returns (new copy, old copy or None)."""
    target = dst / nb.name
    old = None
    if target.exists():
        old = dst / "old" / f"{nb.stem}.{time.strftime('%Y%m%d-%H%M%S')}.ipynb"
        old.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(target), old)
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy2(nb, target)
    return target, old


def edited_tracked_notebooks(src: Path = NOTEBOOKS) -> list[Path]:
    """The committed notebooks that JupyterLab has saved a run into (outputs the policy strips)."""
    import nbformat
    from sync_notebooks import saved_outputs  # same folder

    return [nb for nb in committed_notebooks(src) if saved_outputs(nbformat.read(nb, as_version=4))]


def edited_tracked_message(edited: list[Path]) -> str:
    """What `make test` says instead of one "committed outputs" failure per cell when a learner ran and
    saved the tracked notebooks (plain `jupyter lab` in notebooks/ instead of `make course`)."""
    names = ", ".join(p.name for p in edited)
    return "\n".join([
        f"Your own work is in the tracked notebooks: {names} (notebooks/) carry saved outputs. That",
        "happens when JupyterLab is opened on notebooks/ (plain `jupyter lab`) instead of `make course`.",
        "`make test` checks the notebooks as committed, so it stops here. To keep your work:",
        "",
        "    make move-edits      # moves your versions to my-notebooks/ (git ignores it) and restores notebooks/",
        "",
        "or, to throw your edits away and restore the tracked notebooks only:",
        "",
        "    git checkout -- notebooks/",
        "",
        "Then run the course with `make course`: it opens JupyterLab on my-notebooks/.",
    ])


def move_edits(src: Path = NOTEBOOKS, dst: Path = WORKDIR, restore=None) -> list[tuple[Path, Path | None]]:
    """Move the learner's versions of the tracked notebooks into ``dst`` (a copy already there goes to
    ``dst/old/`` first, as with ``make fresh``) and restore the tracked ones with git. Returns
    (new copy, old copy or None) for each notebook moved."""
    edited = edited_tracked_notebooks(src)
    moved = [copy_keeping_old(nb, dst) for nb in edited]
    if edited:
        (restore or _git_restore)(edited)
    return moved


def _git_restore(paths: list[Path]) -> None:
    subprocess.run(["git", "checkout", "--", *map(str, paths)], cwd=ROOT, check=True)


def headless(env=None, platform: str = sys.platform) -> bool:
    """No display to open a browser on: Linux without X11 or Wayland (macOS and Windows always have one)."""
    env = os.environ if env is None else env
    return platform.startswith("linux") and not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def jupyter_command(workdir: Path = WORKDIR, *, uid: int | None = None, env=None,
                    platform: str = sys.platform, python: str = sys.executable) -> list[str]:
    """The JupyterLab command line ``make course`` runs (rules in the module docstring)."""
    env = os.environ if env is None else env
    uid = (os.geteuid() if hasattr(os, "geteuid") else 1) if uid is None else uid
    cmd = [python, "-m", "jupyter", "lab", str(workdir)]
    if uid == 0:
        cmd.append("--allow-root")
    if headless(env, platform):
        cmd.append("--no-browser")
    return cmd + shlex.split(env.get("JUPYTER_ARGS", ""))


def launch_env(env=None) -> dict:
    """JupyterLab's environment (its kernels inherit it): idle OpenMP threads sleep, and a matplotlib
    backend that cannot draw into a notebook (``MPLBACKEND=Agg`` on many servers) becomes the inline one."""
    from notebook_exec import kernel_env  # same folder

    env = kernel_env(env)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def banner(url: str, workdir: Path) -> str:
    lines = ["The course is running. Open this address in a browser:", "", "    " + url, "",
             f"Your notebooks: {workdir} (yours to edit; `make fresh NB=04` restores one).",
             "Stop the server with Ctrl+C."]
    width = max(map(len, lines)) + 4
    return "\n".join(["", "=" * width, *("  " + line for line in lines), "=" * width, ""])


def open_course(workdir: Path, dry_run: bool = False) -> int:
    copied = ensure_working_copy(dst=workdir)
    if copied:
        print(f"Copied {len(copied)} notebook(s) into {workdir}/ (your working copy; notebooks/ stays as committed):")
        for p in copied:
            print("   ", p.name)
    cmd, env = jupyter_command(workdir), launch_env()
    print("Starting:", shlex.join(cmd), f"(OMP_WAIT_POLICY={env['OMP_WAIT_POLICY']})", flush=True)
    if dry_run:
        return 0
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, bufsize=1)
    # Ctrl+C reaches JupyterLab too (same process group): it asks to confirm and shuts down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    shown = False
    for line in proc.stderr:
        sys.stderr.write(line)
        m = URL_RE.search(line)
        if m and not shown:
            shown = True
            print(banner(m.group(0), workdir), flush=True)
    return proc.wait()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    op = sub.add_parser("open", help="make the working copy if needed and start JupyterLab on it")
    op.add_argument("--dry-run", action="store_true", help="make the working copy, print the command, do not start")
    fr = sub.add_parser("fresh", help="replace your copy of one notebook by the committed one (old copy kept)")
    fr.add_argument("notebook", help="its number, e.g. 04")
    sub.add_parser("check-tracked", help="exit 2 with what to do when the tracked notebooks carry a learner's "
                   "saved work (`make test` runs it first)")
    mv = sub.add_parser("move-edits", help="move your saved work from notebooks/ to my-notebooks/ and restore "
                        "the tracked notebooks (`make move-edits`)")
    ck = sub.choices["check-tracked"]
    for p in (ck, mv):
        p.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help=argparse.SUPPRESS)   # tests point it elsewhere
    for p in (op, fr, mv):
        p.add_argument("--dir", type=Path, default=WORKDIR, help=f"the working copy (default {WORKDIR.name}/)")
    args = ap.parse_args(argv)
    if args.cmd == "check-tracked":
        edited = edited_tracked_notebooks(args.notebooks)
        if edited:
            print(edited_tracked_message(edited), file=sys.stderr)
            return 2
        return 0
    if args.cmd == "move-edits":
        moved = move_edits(args.notebooks, args.dir)
        for new, old in moved:
            print(f"{new}: your version" + (f" (the copy that was there: {old})" if old else ""))
        print(f"moved {len(moved)} notebook(s); notebooks/ is as committed again" if moved
              else "nothing to move: the tracked notebooks carry no saved work")
        return 0
    if args.cmd == "fresh":
        new, old = fresh_copy(args.notebook, dst=args.dir)
        print(f"{new}: fresh copy of the committed notebook" + (f"; your previous copy is {old}" if old else ""))
        return 0
    return open_course(args.dir, args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
