"""`make course` (scripts/course.py): JupyterLab's command line as root / headless, and the learner's
git-ignored working copy of the notebooks, so running the course never breaks `make test` or `git pull`."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import course  # noqa: E402


# --- item 1: the command line -------------------------------------------------------------------

def test_root_on_a_headless_linux_gets_allow_root_and_no_browser():
    # guards against: "Running as root is not recommended. Use --allow-root to bypass." (exit 1),
    # and a server that tries to open a browser where there is no display
    cmd = course.jupyter_command(Path("w"), uid=0, env={}, platform="linux")
    assert cmd[1:5] == ["-m", "jupyter", "lab", "w"]
    assert "--allow-root" in cmd and "--no-browser" in cmd


def test_a_user_with_a_display_gets_the_plain_command():
    for display in ({"DISPLAY": ":0"}, {"WAYLAND_DISPLAY": "wayland-0"}):
        cmd = course.jupyter_command(Path("w"), uid=1000, env=display, platform="linux")
        assert "--allow-root" not in cmd and "--no-browser" not in cmd


def test_macos_without_display_variable_still_opens_a_browser():
    assert "--no-browser" not in course.jupyter_command(Path("w"), uid=501, env={}, platform="darwin")


def test_jupyter_args_are_split_and_come_last_so_they_win():
    cmd = course.jupyter_command(Path("w"), uid=0, env={"JUPYTER_ARGS": "--ip=0.0.0.0 --port 9000 --ServerApp.x='a b'"},
                                 platform="linux")
    assert cmd[-4:] == ["--ip=0.0.0.0", "--port", "9000", "--ServerApp.x=a b"]


def test_kernels_get_passive_openmp_unless_the_learner_chose_otherwise():
    assert course.launch_env({})["OMP_WAIT_POLICY"] == "PASSIVE"
    assert course.launch_env({"OMP_WAIT_POLICY": "ACTIVE"})["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_address_jupyterlab_prints_is_found_for_the_banner():
    line = "[I 2026-11-29 ServerApp]     http://127.0.0.1:8899/lab?token=64f2fb69622138d4a2e64cf1\n"
    assert course.URL_RE.search(line).group(0) == "http://127.0.0.1:8899/lab?token=64f2fb69622138d4a2e64cf1"
    assert "http://localhost:8888/lab" in course.banner("http://localhost:8888/lab", Path("my-notebooks"))


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_course_runs_the_script_with_jupyter_args_exported(tmp_path):
    """The real Makefile recipe, with setup skipped (-o setup) and a stand-in PYTHON that adds
    --dry-run: what would `make course JUPYTER_ARGS=...` start, as this user, without a display?"""
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@" --dry-run --dir "{tmp_path / "work"}"\n')
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "OMP_WAIT_POLICY",
                                                            "MAKEFLAGS", "MFLAGS")}
    out = subprocess.run(["make", "-s", "-o", "setup", "course", f"PYTHON={fake}", "JUPYTER_ARGS=--port=9123"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    start = next(line for line in out.stdout.splitlines() if line.startswith("Starting:"))
    assert " lab " in start and start.rstrip().endswith("--port=9123 (OMP_WAIT_POLICY=PASSIVE)")
    assert "--no-browser" in start
    assert ("--allow-root" in start) == (os.geteuid() == 0)
    assert len(list((tmp_path / "work").glob("[0-9][0-9]_*.ipynb"))) == len(course.committed_notebooks())


# --- item 2: the working copy -------------------------------------------------------------------

def _digest(paths):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_first_run_copies_every_notebook_and_later_runs_never_overwrite(tmp_path):
    src, dst = tmp_path / "notebooks", tmp_path / "my-notebooks"
    src.mkdir()
    for nb in course.committed_notebooks()[:2]:
        shutil.copy2(nb, src / nb.name)
    first = course.ensure_working_copy(src, dst)
    assert sorted(p.name for p in first) == sorted(p.name for p in src.iterdir())
    mine = dst / first[0].name
    mine.write_text("my edits")
    (src / "99_new_lesson.ipynb").write_text("{}")          # a notebook that arrives with `git pull`
    again = course.ensure_working_copy(src, dst)
    assert [p.name for p in again] == ["99_new_lesson.ipynb"]
    assert mine.read_text() == "my edits"


def test_fresh_copy_replaces_one_notebook_and_keeps_the_old_one(tmp_path):
    dst = tmp_path / "my-notebooks"
    course.ensure_working_copy(dst=dst)
    nb = course.committed_notebooks()[4]
    (dst / nb.name).write_text("my edits")
    new, old = course.fresh_copy(nb.name[:2].lstrip("0") or "0", dst=dst)
    assert new.read_bytes() == nb.read_bytes()
    assert old.parent == dst / "old" and old.read_text() == "my edits"
    with pytest.raises(SystemExit, match="use its number"):
        course.fresh_copy("42", dst=dst)


def test_working_copy_sits_beside_notebooks_so_relative_paths_resolve_the_same():
    # guards against: `%load ../solutions/04_dcgan.py` working in notebooks/ but not in the copy
    assert course.WORKDIR.parent == course.NOTEBOOKS.parent
    for nb in course.committed_notebooks():
        text = nb.read_text()
        for rel in set(__import__("re").findall(r"\.\./[\w./-]+\.py", text)):
            assert (course.WORKDIR / rel).resolve() == (course.NOTEBOOKS / rel).resolve()
            assert (course.NOTEBOOKS / rel).resolve().is_file(), f"{nb.name} points at a missing {rel}"


def test_checkpoint_folder_does_not_depend_on_the_notebook_folder(tmp_path):
    # notebooks 04 -> 06 -> 08 share checkpoints: a kernel started in my-notebooks/ must find them
    code = "import gan_utils; print(gan_utils.checkpoint_dir())"
    env = {k: v for k, v in os.environ.items() if k != "GAN_COURSE_CHECKPOINTS"}
    env["PYTHONPATH"] = str(ROOT)
    outs = {subprocess.run([sys.executable, "-c", code], cwd=d, env=env, capture_output=True, text=True,
                           check=True).stdout for d in (ROOT / "notebooks", tmp_path)}
    assert len(outs) == 1


def _learner_saves(path: Path):
    """What a JupyterLab session does to a notebook: outputs, counts, filled-in exercises, lab metadata."""
    nb = nbformat.read(path, as_version=4)
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code":
            c.execution_count = i
            c.outputs = [nbformat.v4.new_output("stream", name="stdout", text="learner output\n")]
            c.source = c.source.replace("raise NotImplementedError", "return None  # my answer")
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7", "mimetype": "text/x-python"}
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nbformat.write(nb, path)


def _static_test_failures() -> set:
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider",
                        "tests/test_notebooks_static.py", "-k", "stripped or in_sync"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stdout[-3000:] + r.stderr[-2000:]
    return {line.split()[1] for line in r.stdout.splitlines() if line.startswith("FAILED ")}


@pytest.mark.slow   # > 20 s on 2 cores: run by `make test`, not by the floor test
@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_a_learner_filling_every_notebook_leaves_tests_and_git_clean():
    """Copy, edit and save every notebook as a learner would; the static notebook tests still pass,
    the committed notebooks are byte-identical and git sees nothing new."""
    pytest.importorskip("nbval")           # `make test` collects the notebooks through nbval
    work = course.WORKDIR
    existed = work.exists()
    committed = _digest(course.committed_notebooks())
    before = _static_test_failures()
    probe = work / "zz_probe_of_the_tests.ipynb"
    try:
        course.ensure_working_copy()
        shutil.copy2(course.committed_notebooks()[0], probe)
        _learner_saves(probe)
        if not existed:                      # never touch a real learner's notebooks
            for p in work.glob("[0-9][0-9]_*.ipynb"):
                _learner_saves(p)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", work.name],
                                cwd=ROOT, capture_output=True, text=True, check=True).stdout
        assert status == "", f"git sees the working copy: {status}"
        collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                    "--nbval-lax"], cwd=ROOT, capture_output=True, text=True).stdout
        assert "notebooks/01_minimax.ipynb" in collected and work.name not in collected, \
            "`make test` must run the committed notebooks, never the working copy"
        # green in CI; in a working tree with a notebook mid-edit, at least no new failure
        assert _static_test_failures() == before, "the working copy changed what the notebook tests see"
        assert _digest(course.committed_notebooks()) == committed
    finally:
        probe.unlink(missing_ok=True)
        if not existed:
            shutil.rmtree(work, ignore_errors=True)


def test_committed_kernelspec_is_what_jupyterlab_writes_so_opening_changes_nothing():
    for nb in course.committed_notebooks():
        assert json.loads(nb.read_text())["metadata"]["kernelspec"] == {
            "display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}, nb.name


# --- issue 33: a learner who ran the tracked notebooks gets one message from `make test` -----------

def _tracked_copy(tmp_path, n=3):
    src = tmp_path / "notebooks"
    src.mkdir()
    for nb in course.committed_notebooks()[:n]:
        shutil.copy2(nb, src / nb.name)
    return src


def test_clean_tracked_notebooks_pass_the_check(tmp_path):
    # guards against: `make test` stopping a clean checkout (the recorded NBVAL_CHECK_OUTPUT runs are allowed)
    src = _tracked_copy(tmp_path)
    assert course.edited_tracked_notebooks(src) == []
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "course.py"), "check-tracked", "--notebooks", str(src)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == ""


def test_edited_tracked_notebooks_get_one_message_with_the_commands(tmp_path):
    # guards against: one "has committed outputs (policy: stripped)" failure per cell, and no word on how
    # to keep the work, for a learner who opened notebooks/ with plain `jupyter lab`
    src = _tracked_copy(tmp_path)
    edited = sorted(src.glob("*.ipynb"))[1]
    _learner_saves(edited)
    assert course.edited_tracked_notebooks(src) == [edited]
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "course.py"), "check-tracked", "--notebooks", str(src)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    msg = r.stderr
    assert edited.name in msg and "my-notebooks/" in msg
    assert "make move-edits" in msg and "git checkout -- notebooks/" in msg and "make course" in msg
    assert "policy: stripped" not in msg and "Traceback" not in msg


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_test_checks_the_tracked_notebooks_before_pytest():
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    out = subprocess.run(["make", "-n", "-o", "setup", "test"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60).stdout.splitlines()
    check = next(i for i, line in enumerate(out) if "course.py check-tracked" in line)
    pytest_line = next(i for i, line in enumerate(out) if "-m pytest" in line)
    assert check < pytest_line


def test_move_edits_keeps_the_learners_work_and_restores_the_tracked_notebook(tmp_path):
    src, dst = _tracked_copy(tmp_path), tmp_path / "my-notebooks"
    edited = sorted(src.glob("*.ipynb"))[0]
    committed = edited.read_bytes()
    dst.mkdir()
    (dst / edited.name).write_text("an older copy of mine")
    _learner_saves(edited)
    mine = edited.read_bytes()

    def restore(paths):                      # what `git checkout --` does, without a repository
        assert paths == [edited]
        edited.write_bytes(committed)

    (new, old), = course.move_edits(src, dst, restore=restore)
    assert new == dst / edited.name and new.read_bytes() == mine
    assert old.parent == dst / "old" and old.read_text() == "an older copy of mine"
    assert edited.read_bytes() == committed and course.edited_tracked_notebooks(src) == []
