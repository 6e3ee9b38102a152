#!/usr/bin/env python3
"""Run notebook 14's measurements of Salimans et al. 2016 in full and record them in docs/improved_record.json.

    OMP_WAIT_POLICY=PASSIVE python scripts/record_improved.py                  # the full record (hours on a shared 2-core CPU)
    python scripts/record_improved.py --smoke --out /tmp/improved_smoke.json   # a minute: checks the whole path
    python scripts/record_improved.py --only images                            # one part again (keeps the others)
    python scripts/record_improved.py --write-notebook   # then: the notebook's sentences quoting the record

Four parts (gan_utils.lessons.improved.run_experiments; sizes in improved.FULL_SIZES), in this order:

0. pilot: historical averaging's weight (the paper gives none), one run per weight in improved.HA_PILOT_WEIGHTS on
   ring8 with a seed that is not one of the tables' (improved.PILOT_SEED); the arms below use the best;
1. toys: notebook 02's ring8 and grid25 with its MLPs and mode-coverage score, the baseline, each technique alone,
   a BatchNorm-G control of virtual BN and the paper's combination without labels, 3 seeds, equal steps;
2. semisup: the semi-supervised GAN (Salimans et al. 2016, section 5) on Fashion-MNIST with 100 labels against
   the same classifier trained on the 100 labels alone, 3 seeds (same labels and initial classifier per seed);
3. images: the techniques that matter at image scale with notebook 04's DCGAN (width 16, batch 64) on
   Fashion-MNIST, FD-classifier and precision/recall of the EMA generator, 3 seeds, equal steps.

The record is written after every run (a crash keeps what was done) with the settings, the command line, the
hardware, the date, the git commit, the 1-minute load average before, after and every minute, and the wall
time; with --only, what the earlier runs recorded about themselves is kept in ``recorded.previous_runs``
(``improved.recording_runs`` lists them all). The notebook's default mode loads it; tests/test_improved_record.py keeps the notebook's prose equal to it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "improved_record.json"
for p in (str(ROOT), str(Path(__file__).resolve().parent)):
    if p not in sys.path:          # gan_utils from this checkout; record_recipes beside this script
        sys.path.insert(0, p)

PARTS = ("pilot", "toys", "semisup", "images")


def main(argv=None) -> int:
    from record_recipes import LoadMonitor, git_commit, hardware, rewrite_notebook

    from gan_utils.lessons import improved
    from gan_utils.runtime import atomic_write

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--only", choices=PARTS, help="run one part (keeps the others from --out)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (improved.SMOKE_SIZES): checks the whole path")
    ap.add_argument("--write-notebook", action="store_true",
                    help="only rewrite notebook 14's sentences quoting the record at --out")
    args = ap.parse_args(argv)
    if args.write_notebook:
        record = improved.load_record(args.out)
        return rewrite_notebook("14_improved_techniques.ipynb", improved.finished_markers(record),
                                lambda part: improved.record_sentences(record, part))
    sizes = dict(improved.SMOKE_SIZES if args.smoke else improved.FULL_SIZES)
    out = Path(args.out)
    record = json.loads(out.read_text()) if args.only and out.exists() else {}
    clock = LoadMonitor()
    commit = git_commit()                        # the code that runs (later commits do not change it)
    parts_done = set(record.get("recorded", {}).get("parts_done", []))
    previous = improved.recording_runs(record["recorded"]) if "recorded" in record else []   # --only: earlier runs
    parts_run = [args.only] if args.only else list(PARTS)

    def save(rec: dict, complete: bool = False) -> None:
        rec["recorded"] = {
            "script": "scripts/record_improved.py", "argv": sys.argv[1:] if argv is None else list(argv),
            "sizes": {k: list(v) if isinstance(v, tuple) else v for k, v in sizes.items()},
            "started": clock.started, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "complete": complete, "parts_done": sorted(parts_done), "parts_run": parts_run,
            "wall_seconds": clock.minutes() * 60, "load_before": clock.load_before, "load_after": os.getloadavg()[0],
            "load_every_minute": list(clock.loads), "hardware": hardware(), "git_commit": commit,
            "smoke": bool(args.smoke), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "previous_runs": previous,
        }
        atomic_write(out, json.dumps(rec, separators=(",", ":")) + "\n")

    def log(msg: str) -> None:
        print(f"[{clock.minutes():6.1f} min, load {os.getloadavg()[0]:.1f}] {msg}", flush=True)

    for part in ([args.only] if args.only else PARTS):
        record = improved.run_experiments(sizes=sizes, only=part, record=record, save=save, log=log)
        parts_done.add(part)
        save(record, complete=set(PARTS) <= parts_done)
    clock.stop()
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB) in {record['recorded']['wall_seconds'] / 60:.1f} min")
    for part in ("toys", "semisup", "images"):
        if part in record:
            print(improved.record_sentences(record, part))
    return 0


if __name__ == "__main__":
    sys.exit(main())
