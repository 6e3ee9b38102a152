#!/usr/bin/env python3
"""Execute notebooks and record their wall time, then write the README's syllabus run-time columns.

    python scripts/measure_runtimes.py --mode smoke             # every notebook, GAN_COURSE_SMOKE=1
    python scripts/measure_runtimes.py --mode full 02 04       # default mode, selected notebooks
    python scripts/measure_runtimes.py --write-readme          # only rewrite the README table

Times go to docs/runtimes.json keyed by notebook and mode ("smoke", "cpu", "gpu"), with the
hardware they were measured on; the README shows them. Nothing is estimated: a missing entry is
shown as "not measured".
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DB = ROOT / "docs" / "runtimes.json"
START, END = "<!-- runtimes:start -->", "<!-- runtimes:end -->"
CONCEPTS = {
    "00_setup": "environment check, Fashion-MNIST in [-1, 1], the in-memory loader",
    "01_minimax": "value function, optimal D*, JSD, saturating vs non-saturating loss (checked numerically)",
    "02_toy_gans": "1-D and 2-D GANs, D vs D*, mode collapse measured on ring8/grid25",
    "03_mlp_gan": "the first image GAN, the D step / G step written out, failure modes",
    "04_dcgan": "DCGAN guidelines, init, EMA generator, latent interpolation",
    "05_debugging_lab": "13 classic bugs of published GAN code: symptoms and fixes",
    "06_evaluation": "FID from scratch, its protocol, bias and pitfalls; precision/recall",
    "07_wgan": "Wasserstein distance, weight clipping, gradient penalty, spectral norm",
    "08_full_training": "DCGAN, WGAN-GP and the modern recipe (hinge + SN + EMA) trained properly on a GPU, FID over "
                        "training; Inception FID of the Fashion-MNIST runs against a published table",
    "09_conditional": "class-conditional GANs: conditional BatchNorm; concat vs projection vs AC-GAN at the same budget; "
                      "class accuracy, per-class FD and precision/recall; truncation; your own image folder",
    "10_modern_recipes": "why GANs circle (Dirac GAN eigenvalues); hinge + SN, R1, LSGAN compared over 3 seeds at "
                         "equal steps and time; the TTUR preset; DiffAugment on 1 000 images; GANs vs diffusion today",
    "11_image_to_image": "pix2pix (conditional GAN + L1, PatchGAN receptive field, U-Net skips) and CycleGAN (cycles, "
                         "identity, image pool), each loss ablated over 3 seeds on Fashion-MNIST edges -> garments; "
                         "information hidden in CycleGAN's cycle; sneakers <-> sandals; train and translate your own folders",
    "12_stylegan": "StyleGAN built small: mapping network, equalised learning rate, AdaIN vs modulation/demodulation "
                   "(the droplet mechanism), noise inputs, style mixing, truncation in W vs Z, PPL-classifier in Z "
                   "and W; the style G vs DCGAN at equal training time over 3 seeds; ADA, StyleGAN3, GigaGAN",
    "13_sequence_gans": "GANs for tokens: no gradient through a sample; REINFORCE vs Gumbel-softmax measured; SeqGAN on its "
                        "synthetic oracle (rollouts, CNN D) vs MLE over 3 seeds; exposure bias measured; temperature "
                        "sweep vs the GANs (Caccia 2020); SeqGAN is not a video model",
    "14_improved_techniques": "Salimans et al. 2016: feature matching, minibatch discrimination (and ProGAN's minibatch "
                              "stddev), historical averaging, one-sided label smoothing, virtual BN, each measured over 3 "
                              "seeds on ring8/grid25 and Fashion-MNIST; the semi-supervised GAN on 100 labels. Any time "
                              "after 06/07: it uses 02's mode-coverage toys, 04's DCGAN, 06's FD-classifier and recall, "
                              "and compares with 07's WGAN-GP and spectral norm",
}


def hardware() -> str:
    try:
        import torch
        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores"


def run(path: Path, smoke: bool, ckpt: str, save_dir: Path | None = None) -> float:
    """Execute one notebook top to bottom in a fresh kernel and return its wall time in seconds.

    ``ckpt`` is the checkpoint folder (GAN_COURSE_CHECKPOINTS). main() passes one empty temporary
    folder for the whole invocation, so it times a learner's first pass: 04 trains from scratch and
    06 then reuses 04's model, as it would after the learner ran 04."""
    import nbformat

    from notebook_exec import execute  # same folder

    nb = nbformat.read(path, as_version=4)
    t = time.perf_counter()
    execute(nb, path.parent, GAN_COURSE_SMOKE="1" if smoke else "0", GAN_COURSE_CHECKPOINTS=ckpt)
    secs = time.perf_counter() - t
    if save_dir is not None:  # the executed notebook, to read its numbers (never committed)
        save_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, save_dir / path.name)
    return secs


# Notebooks whose default mode is GPU work: their CPU column says so instead of being timed for hours.
def _gpu_note() -> str:
    """Notebook 08's CPU cell: its default configs' step counts, read from the configs themselves."""
    cfgs = ROOT / "gan_utils" / "configs"
    steps = [json.loads((cfgs / f"{n}.json").read_text())["steps"]
             for n in ("dcgan_cifar10", "wgan_gp_cifar10", "sngan_cifar10")]
    return ("GPU notebook: not run on a CPU (" + " + ".join(f"{s:,}" for s in steps) + " generator steps)").replace(",", " ")


GPU_NOTEBOOKS = {"08_full_training": _gpu_note()}


def fmt(entry, missing: str = "not measured") -> str:
    if not entry:
        return missing
    s = entry["seconds"]
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def readme_block(db: dict) -> str:
    """The syllabus table between the README's runtimes markers, generated from ``db``."""
    from sync_notebooks import badge_url  # same folder

    rows = ["| notebook | concepts | smoke (CI) | full, CPU | full, GPU |", "|---|---|---|---|---|"]
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        key = path.stem
        e = db.get(key, {})
        badge = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({badge_url(path.name)})"
        rows.append(f"| [{key}](notebooks/{path.name}) {badge} | {CONCEPTS.get(key, '')} | {fmt(e.get('smoke'))} | "
                    f"{fmt(e.get('cpu'), GPU_NOTEBOOKS.get(key, 'not measured'))} | {fmt(e.get('gpu'))} |")
    hw = sorted({v["hardware"] for e in db.values() for v in e.values()})
    loads = [v[k] for e in db.values() for v in e.values() for k in ("load_before", "load_after") if k in v]
    dates = sorted({v["date"] for e in db.values() for v in e.values()})
    rows.append("")
    rows.append("Wall times of a learner's first pass through the notebooks in order (a fresh kernel each; the "
                "checkpoint folder starts empty, so 04 trains its DCGAN and 06 reuses it), measured by "
                "`python scripts/measure_runtimes.py` on: " + ("; ".join(hw) if hw else "nothing yet")
                + (f" ({', '.join(dates)}; 1-minute load average {min(loads):.1f}-{max(loads):.1f} around the runs, "
                   "the notebook's own threads included)" if loads else "")
                + ". \"not measured\" means nobody has run it on that hardware yet.")
    return START + "\n" + "\n".join(rows) + "\n" + END


#: The lecturer's guide (docs/teaching.md) shows the same times with what to do with them in class.
TEACHING = ROOT / "docs" / "teaching.md"
#: Notebooks planned but not in this checkout yet: their rows say "to be measured" until they land.
PLANNED = {
    "11": "pix2pix and CycleGAN: image-to-image translation, paired and unpaired",
    "12": "StyleGAN's ideas: mapping network, per-layer styles (AdaIN), noise inputs, style mixing",
    "13": "sequence GANs: SeqGAN's policy gradient, and why language GANs fell short",
    "14": "Salimans et al. 2016's techniques, and the semi-supervised GAN",
}
#: A notebook whose default mode runs within this many seconds on a CPU is run live in a 90-minute meeting.
LIVE_SECONDS = 240


def in_class(entry: dict, key: str) -> str:
    """What to do with notebook ``key`` in a meeting, from its measured times."""
    cpu, smoke = entry.get("cpu"), entry.get("smoke")
    if key in GPU_NOTEBOOKS:
        return "show the executed page or deck; run smoke mode live" if smoke else "to be measured"
    if cpu is None:
        return "to be measured"
    if cpu["seconds"] <= LIVE_SECONDS:
        return "run live in default mode"
    return "start it when the meeting starts, or show the executed page or deck; smoke mode live"


def teaching_block(db: dict) -> str:
    """docs/teaching.md's run-time table, between the runtimes markers, generated from ``db``."""
    rows = ["| notebook | smoke (CI) | default, CPU | in class |", "|---|---|---|---|"]
    present = {p.name[:2]: p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}
    for nn in sorted(set(present) | set(PLANNED)):
        if nn in present:
            key, e = present[nn].stem, db.get(present[nn].stem, {})
            rows.append(f"| [{key}](../notebooks/{present[nn].name}) | {fmt(e.get('smoke'), 'to be measured')} | "
                        f"{fmt(e.get('cpu'), GPU_NOTEBOOKS.get(key, 'to be measured'))} | {in_class(e, key)} |")
        else:
            rows.append(f"| {nn} (being written): {PLANNED[nn]} | to be measured | to be measured | to be measured |")
    return START + "\n" + "\n".join(rows) + "\n" + END


def _replace_block(path: Path, block: str) -> None:
    path.write_text(re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, path.read_text(), flags=re.S))


def write_readme(db: dict) -> None:
    """The README's syllabus table and the lecturer's guide's times, from ``db``."""
    _replace_block(ROOT / "README.md", readme_block(db))
    if TEACHING.exists():
        _replace_block(TEACHING, teaching_block(db))


def main() -> int:
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=["smoke", "full"])
    ap.add_argument("--write-readme", action="store_true")
    ap.add_argument("--save-executed", type=Path, metavar="DIR",
                    help="also write the executed notebooks (with outputs) to DIR")
    ap.add_argument("only", nargs="*", help="notebook number prefixes, e.g. 02 04")
    args = ap.parse_args()
    db = json.loads(DB.read_text()) if DB.exists() else {}
    if args.mode:
        import tempfile

        import torch
        ckpt = tempfile.mkdtemp(prefix="gan-course-runtimes-")
        print(f"checkpoints of this measurement: {ckpt}", flush=True)
        col = "smoke" if args.mode == "smoke" else ("gpu" if torch.cuda.is_available() else "cpu")
        for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
            if args.only and not any(path.name.startswith(p) for p in args.only):
                continue
            load_before = os.getloadavg()[0]
            secs = run(path, smoke=args.mode == "smoke", ckpt=ckpt, save_dir=args.save_executed)
            load_after = os.getloadavg()[0]
            print(f"{path.name}: {secs:.1f} s ({col}; 1-min load average {load_before:.1f} before, "
                  f"{load_after:.1f} after)", flush=True)
            db.setdefault(path.stem, {})[col] = {"seconds": round(secs, 1), "hardware": hardware(),
                                                  "date": time.strftime("%Y-%m-%d"),
                                                  "load_before": round(load_before, 2),
                                                  "load_after": round(load_after, 2)}
            DB.parent.mkdir(exist_ok=True)   # written after every notebook: a long run can be interrupted
            DB.write_text(json.dumps(db, indent=2, sort_keys=True) + "\n")
    write_readme(db)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
