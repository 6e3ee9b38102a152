#!/usr/bin/env python3
"""Record a finished (or stopped) run of a config in configs/results/ and regenerate configs/RESULTS.md.

    python scripts/record_run.py runs/dcgan_fmnist                      # hardware: this machine
    python scripts/record_run.py runs/dcgan_cifar10 --hardware "NVIDIA H100 80GB HBM3"
    python scripts/record_run.py runs/dcgan_fmnist --inception          # + Inception FID vs the test split
    python scripts/record_run.py --floor fashion-mnist                  # the real-vs-real floors of both metrics
    python scripts/record_run.py --write-table                          # only regenerate RESULTS.md

It copies the run's eval.json (every evaluation with its protocol and training time, written by
gan_utils.experiment) and its last sample grid, adding the hardware and the run's config.
``--inception`` also scores the run's last EMA generator with Inception FID against the test split
(:func:`gan_utils.experiment.score_run`: 10 000 samples, BatchNorm statistics recomputed, the reference
set of Lucic et al. 2018) and stores it in the record beside the FD-classifier curve. ``--floor DATASET``
records what real images score under each protocol (:func:`gan_utils.metrics.fid.real_floor`). The
tables in configs/RESULTS.md are generated from those files only, so no number in them is typed by hand
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
FID_START, FID_END = "<!-- inception:start -->", "<!-- inception:end -->"
#: the floors of a dataset: configs/results/<dataset>.floor.json
FLOOR_SUFFIX = ".floor.json"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def record(run_dir: Path, hardware: str, inception: bool = False) -> Path:
    log = json.loads((run_dir / "eval.json").read_text())
    if not log.get("evals"):
        raise SystemExit(f"{run_dir}/eval.json has no evaluations yet: nothing to record")
    config = json.loads((run_dir / "run_config.json").read_text()) if (run_dir / "run_config.json").exists() else {}
    log["recorded"] = {"hardware": hardware, "config": config}
    if inception:
        from gan_utils.experiment import score_run

        log["inception"] = {**score_run(run_dir, features="inception", split="test"), "hardware": hardware}
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


def record_floor(dataset: str, hardware: str, n: int = 10_000) -> Path:
    """configs/results/<dataset>.floor.json: the real-vs-real floor of both protocols, with their cost."""
    import os
    import time

    import torch

    from gan_utils.metrics import ClassifierFeatures, InceptionFeatures, real_floor, real_statistics

    out = {"dataset": dataset, "hardware": hardware, "torch_threads": torch.get_num_threads(), "floors": []}
    for extractor, split in ((InceptionFeatures(device="cpu"), "test"), (ClassifierFeatures(dataset, device="cpu"), "train")):
        load, t0 = os.getloadavg()[0], time.perf_counter()
        other = "train" if split == "test" else "test"
        timed = {}
        for which, kwargs in ((split, {}), (other, {"n_real": n, "seed": 0})):     # each side's features, timed
            t = time.perf_counter()
            _, _, n_images = real_statistics(extractor, dataset, which, image_size=32, **kwargs)
            timed[which] = {"images": n_images, "seconds": round(time.perf_counter() - t, 1)}
        r = real_floor(extractor, dataset, split=split, n=n, image_size=32, seed=0)   # from the statistics just made
        out["floors"].append({"value": r.value, "metric": f"{r.name}-{r.n_fake // 1000}k", "extractor": r.extractor,
                              "n": r.n_fake, "n_reference": r.n_real, "reference": r.reference, "split": split,
                              "seconds": round(time.perf_counter() - t0, 1), "feature_seconds": timed,
                              "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2)})
    path = RESULTS / f"{dataset}{FLOOR_SUFFIX}"
    path.write_text(json.dumps(out, indent=1) + "\n")
    return path


def inception_block() -> str:
    """The Inception FID table: every record scored with ``--inception``, and the recorded floors."""
    rows = ["| config | step | Inception FID-10k vs test | FD-classifier-10k vs train, same step | evaluation time | protocol |",
            "|---|---|---|---|---|---|"]
    for path in sorted(RESULTS.glob("*.eval.json")):
        log = json.loads(path.read_text())
        inc = log.get("inception")
        if not inc:
            continue
        same = [e for e in log["evals"] if e["step"] == inc["step"]]
        fd = f"{same[0]['value']:.2f}" if same else "(not evaluated at that step)"
        rows.append(f"| `{log['name']}` | {inc['step']} / {log['steps']} | {inc['value']:.2f} | {fd} | "
                    f"{inc['seconds'] / 60:.0f} min on {inc['hardware']} (load {inc['load_before']:.1f}) | {inc['protocol']} |")
    for path in sorted(RESULTS.glob(f"*{FLOOR_SUFFIX}")):
        floor = json.loads(path.read_text())
        for f in floor["floors"]:
            rows.append(f"| real images ({floor['dataset']}) | - | " + (f"{f['value']:.2f}" if f["split"] == "test" else "") +
                        " | " + (f"{f['value']:.2f}" if f["split"] == "train" else "") +
                        f" | {f['seconds'] / 60:.0f} min (load {f['load_before']:.1f}) | {f['metric']}: {f['extractor']} "
                        f"features, {f['n']} real images vs {f['reference']} ({f['n_reference']} images) |")
    if len(rows) == 2:
        rows.append("| (no run scored with Inception FID yet) | | | | | |")
    return FID_START + "\n" + "\n".join(rows) + "\n" + FID_END


def write_table() -> None:
    text = TABLE.read_text()
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: table_block(), text, flags=re.S)
    if FID_START in text:
        text = re.sub(re.escape(FID_START) + ".*?" + re.escape(FID_END), lambda _: inception_block(), text, flags=re.S)
    TABLE.write_text(text)


def main() -> int:
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    from measure_runtimes import hardware

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", nargs="?", type=Path)
    ap.add_argument("--hardware", default=None, help="where the run trained (default: this machine)")
    ap.add_argument("--inception", action="store_true",
                    help="also score the run's last EMA generator with Inception FID vs the test split (10 000 samples)")
    ap.add_argument("--floor", metavar="DATASET", help="record the real-vs-real floors of both metrics for DATASET")
    ap.add_argument("--write-table", action="store_true")
    args = ap.parse_args()
    if args.run_dir:
        print("recorded:", record(args.run_dir, args.hardware or hardware(), inception=args.inception))
    if args.floor:
        print("recorded:", record_floor(args.floor, args.hardware or hardware()))
    write_table()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
