#!/usr/bin/env python3
"""Run notebook 10's recipe comparison in full and record it in docs/recipes_record.json.

    OMP_WAIT_POLICY=PASSIVE python scripts/record_recipes.py                 # the full record (about an hour at one thread on a 2-core CPU)
    python scripts/record_recipes.py --smoke --out /tmp/recipes_smoke.json   # seconds: checks the whole path
    python scripts/record_recipes.py --write-notebook   # then: the notebook's sentences quoting the record

A pilot and two experiments (gan_utils.lessons.recipes.run_experiments; sizes in recipes.FULL_SIZES), all
with the DCGAN of notebook 04 at 32x32 (width 16, batch 64) on Fashion-MNIST, every arm trained by
recipes.compare (the arms of a seed take turns in chunks of 50 steps, so a loaded machine slows all of
them alike; FD-classifier of the EMA generator on 2 000 samples against the test split; 3 seeds):

0. pilot: bce-ns + R1 on a D without BatchNorm, gamma in {0.1, 1, 10}, one seed, 400 steps; the R1 arm below uses the pilot's best gamma: how
   recipes.R1_GAMMA was chosen (with the same score, so it slightly favours R1 in the comparison);
1. the recipes (bce-ns as DCGAN has it, with BatchNorm in D; the same without BatchNorm, the control
   of R1 and LSGAN; hinge + SN; bce-ns + R1; LSGAN) on all 60 000 training images, 1 200 steps, then
   the same wall-clock budget as bce-ns;
2. limited data: bce-ns on 1 000 training images, with and without DiffAugment, 1 500 steps, with
   D's outputs on its 1 000 training images and on 1 000 held-out test images.

The record holds the results, the settings, the command line, the hardware, the date, the 1-minute
load average before and after, and the wall time. The notebook's default mode loads it;
tests/test_recipes_record.py keeps the notebook's prose equal to it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "recipes_record.json"
if str(ROOT) not in sys.path:          # gan_utils from this checkout, installed or not
    sys.path.insert(0, str(ROOT))


def rewrite_notebook(notebook: str, markers: dict, sentences) -> int:
    """``--write-notebook`` of every record script: put ``sentences(part)`` between each pair of ``markers``
    in notebooks/``notebook`` (gan_utils.lessons.records.write_marked_sentences) and say whether it changed."""
    from gan_utils.lessons.records import write_marked_sentences

    nb = ROOT / "notebooks" / notebook
    changed = write_marked_sentences(nb, markers, sentences)
    print(f"{nb}: {'rewritten' if changed else 'already equal to the record'}")
    return 0


def hardware() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform()}


class LoadMonitor:
    """The wall clock and the 1-minute load average of a recording: ``load_before``, ``loads`` (minutes since
    the start, load average) sampled every minute by a daemon thread until :meth:`stop`, ``started`` (UTC)."""

    def __init__(self):
        self.t0 = time.perf_counter()
        self.load_before = os.getloadavg()[0]
        self.loads: list = []
        self._stop = threading.Event()
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self):
        while not self._stop.wait(0 if not self.loads else 60):
            self.loads.append([round(self.minutes(), 2), os.getloadavg()[0]])

    def minutes(self) -> float:
        return (time.perf_counter() - self.t0) / 60

    def stop(self) -> None:
        self._stop.set()


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


class Recording(LoadMonitor):
    """The "recorded" block of a record (scripts/record_recipes.py, scripts/record_translation.py): the
    script and its arguments (and ``extra`` entries), start and end (UTC), wall time, the 1-minute load
    average before, after and every minute (:class:`LoadMonitor`), the hardware, the git commit and the
    OpenMP settings."""

    def __init__(self, script: str, argv: list, smoke: bool, **extra):
        super().__init__()
        self.script, self.argv, self.smoke, self.extra = script, argv, smoke, extra

    def block(self, complete: bool) -> dict:
        return {
            "script": self.script, "argv": self.argv, **self.extra,
            "started": self.started, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "complete": complete, "wall_seconds": self.minutes() * 60, "load_before": self.load_before,
            "load_after": os.getloadavg()[0], "load_every_minute": list(self.loads),
            "hardware": hardware(), "git_commit": git_commit(), "smoke": self.smoke,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        }


def main(argv=None) -> int:
    from gan_utils.lessons import recipes
    from gan_utils.runtime import atomic_write

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--only", choices=["pilot", "full", "limited"], help="run one part (keeps the others from --out)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (recipes.SMOKE_SIZES): checks the whole path")
    for key, value in recipes.FULL_SIZES.items():
        if key == "seeds":
            ap.add_argument("--seeds", type=int, nargs="+", default=None)
        else:
            ap.add_argument(f"--{key.replace('_', '-')}", dest=key, type=type(value), default=None)
    ap.add_argument("--write-notebook", action="store_true",
                    help="only rewrite notebook 10's sentences quoting the record at --out ")
    args = ap.parse_args(argv)
    if args.write_notebook:
        record = recipes.load_record(args.out)
        return rewrite_notebook("10_modern_recipes.ipynb", recipes.SENTENCE_MARKERS,
                                lambda part: recipes.record_sentences(record, part))
    sizes = dict(recipes.SMOKE_SIZES if args.smoke else recipes.FULL_SIZES)
    sizes.update({k: getattr(args, k) for k in recipes.FULL_SIZES if getattr(args, k) is not None})

    out = Path(args.out)
    record = json.loads(out.read_text()) if args.only and out.exists() else {}
    rec = Recording("scripts/record_recipes.py", sys.argv[1:] if argv is None else list(argv), bool(args.smoke),
                    sizes={k: list(v) if isinstance(v, tuple) else v for k, v in sizes.items()})

    parts = [args.only] if args.only else ["pilot", "full", "limited"]
    for i, part in enumerate(parts):             # written after every part: a crash keeps what was done
        record = recipes.run_experiments(sizes=sizes, only=part, record=record)
        record["recorded"] = rec.block(complete=i == len(parts) - 1)
        atomic_write(out, json.dumps(record, separators=(",", ":")) + "\n")
    rec.stop()
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB) in {record['recorded']['wall_seconds'] / 60:.1f} min")
    for part in ("full", "limited"):
        for name, s in record.get(part, {}).get("summary", {}).items():
            print(f"{part:>7} {name:>20}: FD-classifier {recipes.fmt_stat(s['fd_at_steps'])} at equal steps"
                  + (f", {recipes.fmt_stat(s['fd_equal_time'])} at equal time" if "fd_equal_time" in s else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
