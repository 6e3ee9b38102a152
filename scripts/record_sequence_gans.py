#!/usr/bin/env python3
"""Run notebook 13's oracle experiment over 3 seeds and record it in docs/sequence_gans_record.json.

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE python scripts/record_sequence_gans.py   # the record (about an hour at one thread)
    python scripts/record_sequence_gans.py --smoke --out /tmp/seq_smoke.json           # seconds: checks the whole path
    python scripts/record_sequence_gans.py --write-notebook   # then: the notebook's sentences quoting the record

Per seed (gan_utils.lessons.sequence_gans.run_seed, sizes in FULL_SIZES, settings in CONFIG): MLE on the
oracle's 10 000 sequences, SeqGAN and the Gumbel-softmax GAN from the MLE model at its pre-training's end
(the same G, D, batch and rounds), then NLL-oracle and NLL-test of the four generators, the temperature
sweeps of both MLE generators and the exposure-bias measurement. Every training runs in
gan_utils.loop.run_loop. The record holds the results, the settings, the command line, the hardware, the
date, the 1-minute load average (before, after, every minute), the git commit and the wall time; the
notebook's default mode loads it and tests/test_sequence_gans_record.py keeps its prose equal to it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "sequence_gans_record.json"
for p in (str(ROOT), str(Path(__file__).resolve().parent)):
    if p not in sys.path:          # gan_utils from this checkout; record_recipes beside this script
        sys.path.insert(0, p)


def main(argv=None) -> int:
    from record_recipes import LoadMonitor, git_commit, hardware, rewrite_notebook

    from gan_utils.lessons import sequence_gans as L
    from gan_utils.runtime import atomic_write

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--smoke", action="store_true", help="tiny oracle and sizes (SMOKE_CONFIG, SMOKE_SIZES)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None)
    ap.add_argument("--write-notebook", action="store_true",
                    help="only rewrite notebook 13's sentences quoting the record at --out")
    ap.add_argument("--resummarise", action="store_true",
                    help="only recompute the record's summary (derived from its runs) with today's summarise()")
    args = ap.parse_args(argv)
    if args.resummarise:
        record = L.load_record(args.out)
        for run in record["runs"]:                   # derived numbers of older versions, now in the summary
            for arm in ("seqgan", "gumbel"):
                for gap in L.GAPS:
                    run["final"][arm].pop(gap, None)
        record["summary"] = L.summarise(record)
        record["recorded"]["resummarised"] = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                              "git_commit": git_commit()}
        atomic_write(Path(args.out), json.dumps(record, separators=(",", ":")) + "\n")
        print(f"{args.out}: summary recomputed from the runs")
        return 0
    if args.write_notebook:
        record = L.load_record(args.out)
        return rewrite_notebook("13_sequence_gans.ipynb", L.SENTENCE_MARKERS, lambda part: L.record_sentences(record, part))
    cfg = L.SMOKE_CONFIG if args.smoke else L.CONFIG
    sizes = dict(L.SMOKE_SIZES if args.smoke else L.FULL_SIZES)
    if args.seeds:
        sizes["seeds"] = tuple(args.seeds)

    out = Path(args.out)
    clock = LoadMonitor()
    commit = git_commit()                        # the code that runs (later commits do not change it)

    def write(record: dict) -> None:             # after every seed: a crash keeps what was done
        import torch

        record["recorded"] = {
            "script": "scripts/record_sequence_gans.py", "argv": sys.argv[1:] if argv is None else list(argv),
            "started": clock.started, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "complete": len(record["seeds"]) == len(sizes["seeds"]), "wall_seconds": clock.minutes() * 60,
            "load_before": clock.load_before, "load_after": os.getloadavg()[0], "load_every_minute": list(clock.loads),
            "hardware": hardware(), "torch_threads": torch.get_num_threads(), "git_commit": commit,
            "smoke": bool(args.smoke), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        }
        atomic_write(out, json.dumps(record, separators=(",", ":")) + "\n")

    record = L.run_experiments(cfg, sizes, progress=True, on_seed=write)
    clock.stop()
    write(record)
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB) in {record['recorded']['wall_seconds'] / 60:.1f} min")
    for part in L.SENTENCE_MARKERS:
        print(L.record_sentences(record, part))
    return 0


if __name__ == "__main__":
    sys.exit(main())
