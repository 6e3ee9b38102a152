#!/usr/bin/env python3
"""Run notebook 12's comparison in full and record it in docs/stylegan_record.json.

    OMP_WAIT_POLICY=PASSIVE python scripts/record_stylegan.py                 # the full record (hours on a shared 2-core CPU)
    python scripts/record_stylegan.py --smoke --out /tmp/stylegan_smoke.json  # seconds: checks the whole path
    python scripts/record_stylegan.py --write-notebook   # then: the notebook's sentences quoting the record

Three arms (gan_utils.lessons.stylegan.ARMS) on Fashion-MNIST padded to 32x32, 3 seeds: the style generator of
gan_utils/configs/style_fmnist.json (weight demodulation), the same with AdaIN, and notebook 04's DCGAN. For each
seed the arms take turns (training by gan_utils.train.train, resumed bit-exactly from its checkpoint every
chunk) until each has trained for the same CPU time (one thread); then each EMA generator is measured:
FD-classifier on 5 000 samples against the test split, precision/recall against 5 000 test images,
PPL-classifier in Z (and W) on 2 000 pairs, full paths and end points, and for the style arms the droplet
statistic (largest over mean activation per feature map).

The record holds the results, the sizes, the command line, the hardware, the date, the 1-minute load average
before, after and every minute, the git commit and the wall time. The notebook's default mode loads it;
tests/test_stylegan_record.py keeps the notebook's prose equal to it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "stylegan_record.json"
for p in (str(ROOT), str(ROOT / "scripts")):        # gan_utils from this checkout; record_recipes' helpers
    if p not in sys.path:
        sys.path.insert(0, p)

from record_recipes import LoadMonitor, git_commit, hardware, rewrite_notebook  # noqa: E402  (one home for a record's provenance)


def main(argv=None) -> int:
    from gan_utils.lessons import stylegan
    from gan_utils.lessons.records import fmt_stat
    from gan_utils.runtime import atomic_write

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--work-dir", help="where the runs' checkpoints go (default: a temporary folder)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (stylegan.SMOKE_SIZES): checks the whole path")
    ap.add_argument("--seeds", type=int, nargs="+")
    ap.add_argument("--budget", type=float, help="training CPU seconds per arm and seed")
    ap.add_argument("--merge", nargs="+", metavar="PART",
                    help="combine records of the same sizes run for different --seeds (in parallel) into --out")
    ap.add_argument("--write-notebook", action="store_true",
                    help="only rewrite notebook 12's sentences quoting the record at --out")
    args = ap.parse_args(argv)
    if args.write_notebook:
        record = stylegan.load_record(args.out)
        return rewrite_notebook("12_stylegan.ipynb", stylegan.SENTENCE_MARKERS,
                                lambda part: stylegan.record_sentences(record, part))
    if args.merge:
        record = merge([stylegan.load_record(p) for p in args.merge], argv, stylegan)
        atomic_write(Path(args.out), json.dumps(record, separators=(",", ":")) + "\n")
        print(f"merged {len(args.merge)} parts (seeds {record['sizes']['seeds']}) into {args.out}")
        return 0
    sizes = dict(stylegan.SMOKE_SIZES if args.smoke else stylegan.FULL_SIZES)
    if args.seeds:
        sizes["seeds"] = tuple(args.seeds)
    if args.budget:
        sizes["budget"] = args.budget

    clock, commit = LoadMonitor(), git_commit()    # the code that runs, even if the checkout moves on meanwhile
    record = stylegan.run_record(sizes, work_dir=args.work_dir)
    clock.stop()
    record["recorded"] = {
        "script": "scripts/record_stylegan.py", "argv": list(sys.argv[1:] if argv is None else argv),
        "smoke": bool(args.smoke), "started": clock.started,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "wall_seconds": clock.minutes() * 60,
        "load_before": clock.load_before, "load_after": os.getloadavg()[0], "load_every_minute": list(clock.loads),
        "hardware": hardware(), "git_commit": commit, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    out = Path(args.out)
    atomic_write(out, json.dumps(record, separators=(",", ":")) + "\n")
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB) in {record['recorded']['wall_seconds'] / 60:.1f} min")
    for name, s in record["summary"].items():
        print(f"{name:>12}: " + ", ".join(f"{k} {fmt_stat(v, 2)}" for k, v in s.items()))
    return 0


def merge(parts: list, argv, stylegan) -> dict:
    """One record from parts run for different seeds (e.g. three processes, one seed each): the same sizes but the
    seeds and the same code (git commit) are required. Runs are concatenated in seed order, the summary recomputed;
    the "recorded" block spans all parts (first start to last finish) and keeps each part's own."""
    def without_seeds(p):
        return {k: v for k, v in p["sizes"].items() if k != "seeds"}

    if any(without_seeds(p) != without_seeds(parts[0]) or p["recorded"]["git_commit"] != parts[0]["recorded"]["git_commit"]
           or p["recorded"]["smoke"] != parts[0]["recorded"]["smoke"] for p in parts):
        raise SystemExit("--merge: the parts differ in sizes, smoke mode or git commit; they are not one experiment")
    parts = sorted(parts, key=lambda p: p["sizes"]["seeds"][0])
    seeds = [s for p in parts for s in p["sizes"]["seeds"]]
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"--merge: a seed appears twice ({seeds})")
    out = {"sizes": {**parts[0]["sizes"], "seeds": seeds}, "arms": parts[0]["arms"],
           "runs": {name: [r for p in parts for r in p["runs"][name]] for name in parts[0]["runs"]}}
    out["summary"] = stylegan.summarise(out)
    rec = [p["recorded"] for p in parts]
    first, last = min(rec, key=lambda r: r["started"]), max(rec, key=lambda r: r["finished"])
    span = (datetime.fromisoformat(last["finished"]) - datetime.fromisoformat(first["started"])).total_seconds()
    out["recorded"] = {**first, "argv": list(sys.argv[1:] if argv is None else argv), "finished": last["finished"],
                       "wall_seconds": span, "load_after": last["load_after"],
                       "load_every_minute": sorted(x for r in rec for x in r["load_every_minute"]),
                       "parts": [{k: r[k] for k in ("argv", "started", "finished", "wall_seconds", "load_before",
                                                    "load_after", "git_commit")} for r in rec]}
    return out


if __name__ == "__main__":
    sys.exit(main())
