#!/usr/bin/env python3
"""Run notebook 11's translation ablations in full and record them in docs/translation_record.json.

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE python scripts/record_translation.py   # the record (about 2 hours on a shared 2-core CPU)
    python scripts/record_translation.py --smoke --out /tmp/translation_smoke.json      # seconds: checks the whole path
    python scripts/record_translation.py --write-notebook   # then: the notebook's sentences quoting the record

Three parts (gan_utils.lessons.image_to_image.run_experiments; sizes in image_to_image.FULL_SIZES), all on
Fashion-MNIST at 32x32 with the U-Net generator and the 16x16 PatchGAN (width 16, batch 16, Adam 2e-4,
betas (0.5, 0.999)), 3 seeds, scored on the first 2 000 test pairs (per-pixel L1 to the true garment,
FD-classifier against the real garments, class agreement under the shipped classifier):

1. pix2pix on the 60 000 training pairs edges -> garments: L1 only, cGAN only, L1 + cGAN;
2. CycleGAN on the unpaired split (edges of one half of the training set, garments of the other half):
   GAN alone, cycle alone, GAN + forward cycle, full (with identity loss and image pool); for the full
   objective also how its reconstruction depends on faint signals in the intermediate image;
3. CycleGAN sneakers <-> sandals: class-flip rate, cycle error, FD-classifier, both directions.

The record holds the results, the settings, the command line, the hardware, the date, the 1-minute load
average before, after and every minute, and the wall time; it is written after every part. The notebook's
default mode loads it; tests/test_translation_record.py keeps the notebook's prose equal to it.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
if str(ROOT) not in sys.path:          # gan_utils from this checkout, installed or not
    sys.path.insert(0, str(ROOT))

from record_recipes import Recording, rewrite_notebook  # noqa: E402  (one home: the recipes record's bookkeeping)

PARTS = ("pix2pix", "cyclegan", "classes")


def main(argv=None) -> int:
    from gan_utils.lessons import image_to_image as i2i
    from gan_utils.lessons.records import fmt_stat
    from gan_utils.runtime import atomic_write

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / i2i.RECORD_NAME))
    ap.add_argument("--only", choices=PARTS, help="run one part (keeps the others from --out)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (image_to_image.SMOKE_SIZES): checks the whole path")
    ap.add_argument("--seeds", type=int, nargs="+", default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--class-steps", dest="class_steps", type=int, default=None)
    ap.add_argument("--write-notebook", action="store_true",
                    help="only rewrite notebook 11's sentences quoting the record at --out (records.write_marked_sentences)")
    args = ap.parse_args(argv)
    if args.write_notebook:
        record = i2i.load_record(args.out)
        return rewrite_notebook("11_image_to_image.ipynb", i2i.SENTENCE_MARKERS, lambda part: i2i.record_sentences(record, part))
    sizes = dict(i2i.SMOKE_SIZES if args.smoke else i2i.FULL_SIZES)
    sizes.update({k: getattr(args, k) for k in ("seeds", "steps", "class_steps") if getattr(args, k) is not None})

    out = Path(args.out)
    record = json.loads(out.read_text()) if args.only and out.exists() else {}
    rec = Recording("scripts/record_translation.py", sys.argv[1:] if argv is None else list(argv), bool(args.smoke))

    parts = [args.only] if args.only else list(PARTS)
    for i, part in enumerate(parts):             # written after every part: a crash keeps what was done
        record = i2i.run_experiments(sizes=sizes, only=part, record=record, progress=False)
        record["recorded"] = rec.block(complete=i == len(parts) - 1)
        atomic_write(out, json.dumps(record, separators=(",", ":")) + "\n")
    rec.stop()
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB) in {record['recorded']['wall_seconds'] / 60:.1f} min")
    for part in ("pix2pix", "cyclegan"):
        for name, s in record.get(part, {}).get("summary", {}).items():
            print(f"{part:>8} {name:>18}: " + ", ".join(f"{m} {fmt_stat(s['metrics.' + m], 3)}" for m in i2i.METRICS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
