#!/usr/bin/env python3
"""Record a finished (or stopped) run of a config in configs/results/ and regenerate configs/RESULTS.md.

    python scripts/record_run.py runs/dcgan_fmnist                      # hardware: this machine
    python scripts/record_run.py runs/dcgan_cifar10 --hardware "NVIDIA H100 80GB HBM3"
    python scripts/record_run.py --write-table                          # only regenerate RESULTS.md

It copies the run's eval.json (every evaluation with its protocol and training time, written by
gan_utils.experiment) and its last sample grid, adding the hardware and the run's config. The table
in configs/RESULTS.md is generated from those files only, so no number in it is typed by hand
(tests/test_recorded_measurements.py checks this).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "configs" / "results"
TABLE = ROOT / "configs" / "RESULTS.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def record(run_dir: Path, hardware: str) -> Path:
    log = json.loads((run_dir / "eval.json").read_text())
    if not log.get("evals"):
        raise SystemExit(f"{run_dir}/eval.json has no evaluations yet: nothing to record")
    config = json.loads((run_dir / "run_config.json").read_text()) if (run_dir / "run_config.json").exists() else {}
    log["recorded"] = {"hardware": hardware, "config": config}
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"{log['name']}.{_slug(hardware)}"
    out = RESULTS / f"{stem}.eval.json"
    out.write_text(json.dumps(log, indent=1) + "\n")
    grids = sorted(run_dir.glob("samples_*.png"))
    if grids:
        shutil.copyfile(grids[-1], RESULTS / f"{stem}.png")
    return out


def table_block() -> str:
    rows = ["| config | hardware | steps done / planned | training time | first → best (last) score | protocol | samples |",
            "|---|---|---|---|---|---|---|"]
    for path in sorted(RESULTS.glob("*.eval.json")):
        log = json.loads(path.read_text())
        ev = sorted(log["evals"], key=lambda e: e["step"])
        best, last = min(ev, key=lambda e: e["value"]), ev[-1]
        png = path.name.replace(".eval.json", ".png")
        grid = f"[grid at step {last['step']}](results/{png})" if (RESULTS / png).exists() else ""
        rows.append(f"| `{log['name']}` | {log['recorded']['hardware']} | {last['step']} / {log['steps']} | "
                    f"{last['train_seconds'] / 60:.1f} min | {ev[0]['value']:.2f} (step {ev[0]['step']}) → "
                    f"{best['value']:.2f} (step {best['step']}) ({last['value']:.2f}) | {log['protocol']} | {grid} |")
    if len(rows) == 2:
        rows.append("| (no run recorded yet) | | | | | | |")
    return START + "\n" + "\n".join(rows) + "\n" + END


def write_table() -> None:
    text = TABLE.read_text()
    TABLE.write_text(re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: table_block(), text, flags=re.S))


def main() -> int:
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    from measure_runtimes import hardware

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", nargs="?", type=Path)
    ap.add_argument("--hardware", default=None, help="where the run trained (default: this machine)")
    ap.add_argument("--write-table", action="store_true")
    args = ap.parse_args()
    if args.run_dir:
        print("recorded:", record(args.run_dir, args.hardware or hardware()))
    write_table()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
