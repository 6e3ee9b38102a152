#!/usr/bin/env python3
"""The prepared GPU check: one command, each part in its own process with its own timeout.

    python scripts/gpu_check.py                       # on a GPU machine (<= 8 min); writes the records
    python scripts/gpu_check.py --data DIR            # ... with Fashion-MNIST's IDX files in DIR (offline)
    python scripts/gpu_check.py --dry-run             # on a CPU (CI): every part at tiny sizes, records
                                                      # written to a temporary folder, never to the repo

Parts (``--only a,b`` runs some):

1. ``cuda_tests``   tests/test_cuda.py: bf16 / fp16 + GradScaler / compile against fp32 eager within
                    the tolerances stated there, the GPU-resident loader, resume under another plan
2. ``bench``        benchmarks/bench_train.py --device cuda, compile on and off (alternating with the
                    plain reference loop); its markdown is appended to benchmarks/RESULTS.md
3. ``steps``        steps/s of every shipped config (synthetic data of the config's shape: no download)
                    and the projected training time of the full runs (colab and paper lengths)
4. ``notebook08``   notebook 08 in smoke mode on this device, timed (docs/runtimes.json, "gpu_smoke")
5. ``fmnist``       a short real Fashion-MNIST DCGAN run with its FD-classifier (configs/RESULTS.md)

Everything measured goes to docs/gpu_check.json with the GPU's name; the parts' own records go to
benchmarks/RESULTS.md, docs/runtimes.json and configs/results/ (scripts/record_run.py). A part that
fails or times out is reported and the others still run; the exit status says whether all passed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: part -> timeout in seconds on a GPU (the sum stays under 8 minutes)
PARTS = {"cuda_tests": 120, "bench": 150, "steps": 90, "notebook08": 60, "fmnist": 60}
DRY_TIMEOUT = 240


def _env() -> dict:
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"), PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _device(dry: bool):
    import torch

    if dry:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: run with --dry-run on a CPU")
    return torch.device("cuda")


def _hardware(dry: bool) -> str:
    import torch

    if not dry and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    sys.path.insert(0, str(ROOT / "scripts"))
    from measure_runtimes import hardware

    return hardware() + " (dry run)"


# ---------------------------------------------------------------- the parts (each in its own process)
def part_cuda_tests(dry: bool, out: Path) -> dict:
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                        str(ROOT / "tests" / "test_cuda.py")], capture_output=True, text=True, env=_env(), cwd=ROOT)
    last = [line for line in r.stdout.strip().splitlines() if line.strip()][-1:] or ["(no output)"]
    return {"ok": r.returncode == 0, "summary": last[0], "output_tail": r.stdout[-3000:]}


def part_bench(dry: bool, out: Path) -> dict:
    results = {}
    for compile_ in (("off",) if dry else ("on", "off")):     # a dry run checks the plumbing once
        js = out / f"bench_compile_{compile_}.json"
        md = out / "bench.md"
        cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_train.py"), "--compile", compile_, "--json", str(js),
               "--out", str(md)]
        cmd += (["--device", "cpu", "--quick", "--configs", "dcgan32", "--alternations", "5", "--chunk", "1",
                 "--batch", "8", "--width", "8"] if dry else ["--device", "cuda", "--alternations", "5"])
        r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT)
        if r.returncode != 0:
            return {"ok": False, "error": (r.stderr or r.stdout)[-2000:]}
        results[f"compile_{compile_}"] = json.loads(js.read_text())
    return {"ok": True, "runs": results, "markdown": (out / "bench.md").read_text()}


def part_steps(dry: bool, out: Path) -> dict:
    import torch

    from gan_utils.config import available_configs, build_run, load_config
    from gan_utils.train import train

    device = _device(dry)
    n_warm, n_timed = (1, 2) if dry else (20, 60)
    rows = {}
    for name in available_configs():
        opts = load_config(name)
        channels = 3 if opts.get("dataset") == "cifar10" else 1
        small = {"width": 8, "batch_size": 8} if dry else {}
        run_opts = {**opts, **small, "dataset": "synthetic", "channels": channels, "device": str(device),
                    "steps": n_warm + n_timed, "log_every": 1, "sample_every": 0, "ckpt_every": 0}
        run_opts.pop("eval_every", None)
        G, D, loader, cfg = build_run(run_opts)
        stamps = {}

        def cb(info):
            if device.type == "cuda":
                torch.cuda.synchronize()
            stamps[info["step"]] = time.perf_counter()

        r = train(G, D, loader, cfg, callback=cb, progress=False)
        secs = (stamps[n_warm + n_timed] - stamps[n_warm]) / n_timed
        rows[name] = {"steps_per_s": round(1 / secs, 3), "seconds_per_step": secs, "run_steps": opts["steps"],
                      "projected_training_minutes": round(opts["steps"] * secs / 60, 1), "fast_plan": r.fast,
                      "sizes": "tiny (dry run)" if dry else "the config's"}
    return {"ok": True, "configs": rows}


def part_notebook08(dry: bool, out: Path) -> dict:
    import nbformat

    sys.path.insert(0, str(ROOT / "scripts"))
    from notebook_exec import execute

    path = ROOT / "notebooks" / "08_full_training.ipynb"
    nb = nbformat.read(path, as_version=4)
    t = time.perf_counter()
    execute(nb, path.parent, GAN_COURSE_SMOKE="1", GAN_COURSE_CHECKPOINTS=tempfile.mkdtemp(prefix="gpu-check-nb08-"))
    return {"ok": True, "seconds": round(time.perf_counter() - t, 1)}


def part_fmnist(dry: bool, out: Path) -> dict:
    from gan_utils.experiment import run_experiment

    device = _device(dry)
    run_dir = out / "dcgan_fmnist"
    over = {"steps": 8, "eval_every": 4, "n_eval": 256, "n_ref": 512, "width": 8, "batch_size": 32} if dry else \
        {"steps": 2000, "eval_every": 1000}
    r = run_experiment("dcgan_fmnist", run_dir, device=device, overrides=over, progress=False)
    return {"ok": True, "run_dir": str(run_dir), "best": r.best, "metric": r.metric, "protocol": r.protocol,
            "train_minutes": round(r.train_seconds / 60, 2), "steps": over["steps"]}


FUNCS = {"cuda_tests": part_cuda_tests, "bench": part_bench, "steps": part_steps, "notebook08": part_notebook08,
         "fmnist": part_fmnist}


# ---------------------------------------------------------------- records
def write_records(results: dict, hardware: str, dry: bool, out: Path) -> list:
    """Write what the parts measured into the repository's records (into ``out`` for a dry run)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import record_run
    import measure_runtimes

    written = []
    base = out / "records" if dry else ROOT
    stamp = {"hardware": hardware, "date": time.strftime("%Y-%m-%d")}
    summary = base / "docs" / "gpu_check.json"
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text(json.dumps({**stamp, "parts": {k: {kk: vv for kk, vv in v.items() if kk not in ("markdown",)}
                                                      for k, v in results.items()}}, indent=1, default=str) + "\n")
    written.append(summary)
    bench = results.get("bench", {})
    if bench.get("ok"):
        md = base / "benchmarks" / "RESULTS.md"
        md.parent.mkdir(parents=True, exist_ok=True)
        with open(md, "a") as f:
            f.write(f"\n\n## {hardware}, {stamp['date']} (scripts/gpu_check.py)\n\n{bench['markdown']}\n")
        written.append(md)
    nb = results.get("notebook08", {})
    if nb.get("ok"):
        db_path = base / "docs" / "runtimes.json"
        db = json.loads((measure_runtimes.DB if not dry else measure_runtimes.DB).read_text())
        db.setdefault("08_full_training", {})["gpu_smoke"] = {"seconds": nb["seconds"], **stamp}
        db_path.parent.mkdir(parents=True, exist_ok=True)
        db_path.write_text(json.dumps(db, indent=2, sort_keys=True) + "\n")
        written.append(db_path)
    fm = results.get("fmnist", {})
    if fm.get("ok"):
        if dry:
            record_run.RESULTS = base / "configs" / "results"
            record_run.TABLE = base / "configs" / "RESULTS.md"
            record_run.TABLE.parent.mkdir(parents=True, exist_ok=True)
            record_run.TABLE.write_text((ROOT / "configs" / "RESULTS.md").read_text())
        written.append(record_run.record(Path(fm["run_dir"]), hardware))
        record_run.write_table()
        written.append(record_run.TABLE)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU, records to a temporary folder")
    ap.add_argument("--only", help=f"comma-separated parts of {list(PARTS)}")
    ap.add_argument("--data", help="folder with Fashion-MNIST's IDX files (sets GAN_COURSE_DATA)")
    ap.add_argument("--out-dir", help="where parts write their files (default: a temporary folder)")
    ap.add_argument("--part", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    out = Path(args.out_dir or tempfile.mkdtemp(prefix="gpu-check-"))
    out.mkdir(parents=True, exist_ok=True)
    if args.data:
        os.environ["GAN_COURSE_DATA"] = str(Path(args.data).resolve())
    if args.part:                                   # a child process: run one part, write its JSON
        sys.path.insert(0, str(ROOT))
        res = FUNCS[args.part](args.dry_run, out)
        (out / f"{args.part}.json").write_text(json.dumps(res, default=str))
        return 0
    parts = [p for p in (args.only.split(",") if args.only else PARTS)]
    results, t0 = {}, time.perf_counter()
    for name in parts:
        limit = DRY_TIMEOUT if args.dry_run else PARTS[name]
        cmd = [sys.executable, __file__, "--part", name, "--out-dir", str(out)] + (["--dry-run"] if args.dry_run else [])
        t = time.perf_counter()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, env=_env(), cwd=ROOT)
            res = json.loads((out / f"{name}.json").read_text()) if r.returncode == 0 else \
                {"ok": False, "error": (r.stderr or r.stdout)[-3000:]}
        except subprocess.TimeoutExpired:
            res = {"ok": False, "error": f"timed out after {limit} s"}
        res["wall_seconds"] = round(time.perf_counter() - t, 1)
        results[name] = res
        print(f"[{'ok' if res.get('ok') else 'FAILED'}] {name}: {res['wall_seconds']} s"
              + ("" if res.get("ok") else f"\n{res.get('error', '')[-1500:]}"), flush=True)
    hardware = _hardware(args.dry_run)
    for path in write_records(results, hardware, args.dry_run, out):
        print("wrote", path)
    print(f"gpu_check on {hardware}: {sum(r.get('ok', False) for r in results.values())}/{len(results)} parts ok "
          f"in {time.perf_counter() - t0:.0f} s")
    return 0 if all(r.get("ok") for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
