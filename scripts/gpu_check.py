#!/usr/bin/env python3
"""The prepared GPU check: made to succeed on the first try on a bare, offline, short-lived GPU machine.

Three commands, the middle one on the GPU machine:

    python scripts/gpu_check.py --prepare [--python 3.12]        # here, online: build/gpu-carry/ (<= 60 MiB)
    python3 scripts/gpu_check.py --carry build/gpu-carry --out-dir $OUT        # there: <= 6 min, offline
    python scripts/gpu_check.py --apply DIR                       # here again: DIR's records into the repository

``--prepare`` downloads, for the named Python, the wheels of every package the check needs that the
GPU machine lacks (its package list: scripts/gpu_machine_packages.txt) and copies Fashion-MNIST's IDX
files; it prints the folder's size and refuses one over :data:`CARRY_LIMIT_MB`. (pytorch-fid's
Inception weights, about 91 MB converted, do not fit: the check uses the shipped classifier.)

``--carry DIR --out-dir OUT`` installs the carried wheels into a private folder (``pip install
--no-index --find-links``, ``--target``, put on ``PYTHONPATH`` for the parts only), uses the carried
data offline, runs the parts below, and writes **everything** it measures under OUT and nothing in
the repository: ``gpu_check.json`` (the summary, every part's results) and at most
:data:`MAX_OUT_FILES` - 1 other files (``bench.md``, the Fashion-MNIST run's ``fmnist_eval.json``,
``fmnist_run_config.json`` and its last sample grid ``fmnist_samples.png``). Scratch work (the run
folder, the benchmark's raw files) lives in a temporary folder outside OUT.

Parts (``--only a,b`` runs some), each in its own process group, killed whole at its timeout (a
benchmark left running would distort the next part's timings); a part that fails or times out is
reported and the others still run:

1. ``cuda_tests``   tests/test_cuda.py: bf16 / fp16 + GradScaler / compile against fp32 eager
2. ``bench``        benchmarks/bench_train.py: compile on (DCGAN only: one cold compile of G and D)
                    and off, alternating with the plain reference loop
3. ``steps``        steps/s of every shipped config, taken as a real run takes them (the fast path
                    of the config's full length, compiled where such a run compiles; a log flush
                    every :data:`LOG_EVERY` steps, no callback), most important configs first, each
                    written as soon as it is measured (a timeout keeps the ones done)
4. ``notebook08``   notebook 08 in smoke mode on this device, timed (needs the carried Jupyter wheels)
5. ``fmnist``       a short real Fashion-MNIST DCGAN run with its FD-classifier

``--apply DIR`` folds DIR into docs/gpu_check.json, benchmarks/RESULTS.md, docs/runtimes.json
(``08_full_training.gpu_smoke``) and configs/results + configs/RESULTS.md (scripts/record_run.py).
``--dry-run`` runs every part at tiny sizes on the CPU (CI: tests/test_gpu_check.py).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: part -> timeout in seconds on a GPU: 360 s in all, inside the 6 minutes of the plan
PARTS = {"cuda_tests": 60, "bench": 130, "steps": 75, "notebook08": 45, "fmnist": 50}
DRY_TIMEOUT = 300
#: what the device machine brings back: at most this many files under OUT
MAX_OUT_FILES = 8
#: the carried folder's limit (the repository travels with it, 64 MiB in all)
CARRY_LIMIT_MB = 60
#: the packages the check needs beyond the GPU machine's list (their dependencies are resolved too)
NEEDS = ["nbformat", "nbclient", "ipykernel"]
PACKAGE_LIST = ROOT / "scripts" / "gpu_machine_packages.txt"
FMNIST = Path("/usr/share/datasets/fashion-mnist")
FMNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                "t10k-labels-idx1-ubyte.gz")
#: a real run flushes its logs every log_every steps; the step timing does the same
LOG_EVERY = 20
#: the configs the steps part measures first (notebook 08's default runs), then the others
FIRST_CONFIGS = ("dcgan_cifar10", "wgan_gp_cifar10")


def gpu_machine_packages() -> set:
    """Normalised names of the packages the GPU machine already has (scripts/gpu_machine_packages.txt)."""
    names = set()
    for line in PACKAGE_LIST.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(_norm(line))
    return names


def _norm(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


# ---------------------------------------------------------------- --prepare (here, online)
def _resolve(python: str) -> list:
    """``[(name, version)]`` of NEEDS and everything they need, resolved by pip for ``python``
    (wheels only, manylinux x86-64), without installing or downloading the packages themselves."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
               "--report", str(report), "--target", str(Path(tmp) / "t"), "--only-binary=:all:",
               "--python-version", python, "--implementation", "cp", *_platforms(), *NEEDS]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"pip could not resolve {NEEDS} for Python {python}:\n{r.stderr[-2000:]}")
        got = json.loads(report.read_text())
    return sorted((item["metadata"]["name"], item["metadata"]["version"]) for item in got["install"])


def _platforms() -> list:
    out = []
    for tag in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                "manylinux1_x86_64", "manylinux_2_34_x86_64", "manylinux_2_31_x86_64", "manylinux_2_24_x86_64"):
        out += ["--platform", tag]
    return out


def prepare(carry: Path, python: str) -> int:
    """Write ``carry``: the wheels the GPU machine lacks (for ``python``) and Fashion-MNIST's IDX files."""
    have = gpu_machine_packages()
    resolved = _resolve(python)
    need = [(n, v) for n, v in resolved if _norm(n) not in have]
    wheels = carry / "wheels"
    if carry.exists():
        shutil.rmtree(carry)
    wheels.mkdir(parents=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--python-version", python, "--implementation", "cp", *_platforms(), "-d", str(wheels),
           *[f"{n}=={v}" for n, v in need]]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"pip download failed:\n{r.stderr[-2000:]}")
    data = carry / "data"
    data.mkdir()
    source = Path(os.environ.get("GAN_COURSE_DATA") or FMNIST)
    for name in FMNIST_FILES:
        if not (source / name).is_file():
            raise SystemExit(f"{source / name} is missing: install dataset-fashion-mnist (or set GAN_COURSE_DATA)")
        shutil.copyfile(source / name, data / name)
    manifest = {"python": python, "carried": [f"{n}=={v}" for n, v in need],
                "present_on_the_gpu_machine": sorted(n for n, _ in resolved if _norm(n) in have),
                "data": list(FMNIST_FILES), "made": time.strftime("%Y-%m-%d %H:%M:%S")}
    (carry / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    size = sum(f.stat().st_size for f in carry.rglob("*") if f.is_file())
    print(f"{carry}: {size / 2**20:.1f} MiB: {len(list(wheels.glob('*.whl')))} wheels for Python {python} "
          f"({', '.join(n for n, _ in need)}) and {len(FMNIST_FILES)} Fashion-MNIST files")
    if size > CARRY_LIMIT_MB * 2**20:
        raise SystemExit(f"{carry} is {size / 2**20:.1f} MiB, over the {CARRY_LIMIT_MB} MiB a GPU machine takes")
    return 0


# ---------------------------------------------------------------- the parts (each in its own process)
def _env(extra: dict | None = None) -> dict:
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"), PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("GPU_CHECK_SITE", ""),
                                                    env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def _device(dry: bool):
    import torch

    if dry:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: run with --dry-run on a CPU")
    return torch.device("cuda")


def hardware(dry: bool) -> str:
    import torch

    if not dry and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    sys.path.insert(0, str(ROOT / "scripts"))
    from measure_runtimes import hardware as this_machine

    return this_machine() + " (dry run)"


def part_cuda_tests(dry: bool, scratch: Path) -> dict:
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                        str(ROOT / "tests" / "test_cuda.py")], capture_output=True, text=True, env=_env(), cwd=ROOT)
    last = [line for line in r.stdout.strip().splitlines() if line.strip()][-1:] or ["(no output)"]
    return {"ok": r.returncode in (0, 5) and "failed" not in last[0], "summary": last[0],
            "output_tail": r.stdout[-3000:]}


def part_bench(dry: bool, scratch: Path) -> dict:
    results, md = {}, scratch / "bench.md"
    plan = {"off": "dcgan32"} if dry else {"on": "dcgan32", "off": "dcgan32,wgangp32"}   # one cold compile
    for compile_, configs in plan.items():
        js = scratch / f"bench_compile_{compile_}.json"
        cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_train.py"), "--compile", compile_, "--json", str(js),
               "--out", str(md), "--configs", configs]
        cmd += (["--device", "cpu", "--quick", "--alternations", "5", "--chunk", "1", "--batch", "8", "--width", "8"]
                if dry else ["--device", "cuda", "--alternations", "5"])
        r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT)
        if r.returncode != 0:
            return {"ok": False, "error": (r.stderr or r.stdout)[-2000:], "runs": results}
        results[f"compile_{compile_}"] = json.loads(js.read_text())
    return {"ok": True, "runs": results, "markdown": md.read_text()}


def part_steps(dry: bool, scratch: Path) -> dict:
    """Steps/s of every config as its real run takes them, each written to ``steps_partial.json`` as
    soon as it is measured (a timeout keeps those)."""
    from dataclasses import replace

    import torch

    from gan_utils.config import available_configs, build_run, load_config
    from gan_utils.fast import auto_compile
    from gan_utils.train import train

    device = _device(dry)
    flushes_warm, flushes_timed = (1, 2) if dry else (1, 3)
    every = 2 if dry else LOG_EVERY
    names = [n for n in FIRST_CONFIGS if n in available_configs()]
    names += [n for n in available_configs() if n not in names]
    rows, partial = {}, scratch / "steps_partial.json"
    for name in names:
        opts = load_config(name)
        channels = 3 if opts.get("dataset") == "cifar10" else 1
        small = {"width": 8, "batch_size": 8} if dry else {}
        steps = every * (flushes_warm + flushes_timed)
        run_opts = {**opts, **small, "dataset": "synthetic", "channels": channels, "device": str(device),
                    "steps": steps, "log_every": every, "sample_every": 0, "ckpt_every": 0}
        run_opts.pop("eval_every", None)
        G, D, loader, cfg = build_run(run_opts)
        # compiled where a real run of the config's length compiles (auto: >= 10 000 steps on a bf16 GPU)
        cfg = replace(cfg, compile=auto_compile(device, opts["steps"]) if cfg.compile is None else cfg.compile)
        t0 = time.perf_counter()
        r = train(G, D, loader, cfg, progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        ips = r.history["images_per_s"][every * flushes_warm:]       # the flushes after the warm-up one(s)
        per_step = cfg.batch_size * cfg.n_critic
        secs = sum(per_step / v for v in ips) / len(ips)
        rows[name] = {"steps_per_s": round(1 / secs, 3), "seconds_per_step": secs, "run_steps": opts["steps"],
                      "projected_training_minutes": round(opts["steps"] * secs / 60, 1), "fast_plan": r.fast,
                      "wall_seconds": round(time.perf_counter() - t0, 1),
                      "sizes": "tiny (dry run)" if dry else "the config's"}
        partial.write_text(json.dumps(rows, default=str))
    return {"ok": True, "configs": rows}


def part_notebook08(dry: bool, scratch: Path) -> dict:
    import nbformat

    sys.path.insert(0, str(ROOT / "scripts"))
    from notebook_exec import execute

    path = ROOT / "notebooks" / "08_full_training.ipynb"
    nb = nbformat.read(path, as_version=4)
    t = time.perf_counter()
    execute(nb, path.parent, GAN_COURSE_SMOKE="1", GAN_COURSE_CHECKPOINTS=str(scratch / "nb08-checkpoints"))
    return {"ok": True, "seconds": round(time.perf_counter() - t, 1)}


def part_fmnist(dry: bool, scratch: Path) -> dict:
    from gan_utils.experiment import run_experiment

    device = _device(dry)
    run_dir = scratch / "dcgan_fmnist"
    over = {"steps": 8, "eval_every": 4, "n_eval": 256, "n_ref": 512, "width": 8, "batch_size": 32} if dry else \
        {"steps": 2000, "eval_every": 1000}
    r = run_experiment("dcgan_fmnist", run_dir, device=device, overrides=over, progress=False)
    return {"ok": True, "run_dir": str(run_dir), "best": r.best, "metric": r.metric, "protocol": r.protocol,
            "train_minutes": round(r.train_seconds / 60, 2), "steps": over["steps"]}


FUNCS = {"cuda_tests": part_cuda_tests, "bench": part_bench, "steps": part_steps, "notebook08": part_notebook08,
         "fmnist": part_fmnist}


def run_part(name: str, dry: bool, scratch: Path, limit: float) -> dict:
    """One part in a child process that leads its own process group: on the timeout the whole group
    (the part and every process it started: pytest, the benchmark, a kernel) is killed."""
    cmd = [sys.executable, __file__, "--part", name, "--scratch", str(scratch)] + (["--dry-run"] if dry else [])
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=limit)
        res = json.loads((scratch / f"{name}.json").read_text()) if proc.returncode == 0 and \
            (scratch / f"{name}.json").is_file() else {"ok": False, "error": (err or out)[-3000:]}
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        res = {"ok": False, "error": f"timed out after {limit:.0f} s (its process group was killed)"}
        if name == "steps" and (scratch / "steps_partial.json").is_file():
            res["configs"] = json.loads((scratch / "steps_partial.json").read_text())   # the ones measured
    res["wall_seconds"] = round(time.perf_counter() - t, 1)
    return res


def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


# ---------------------------------------------------------------- the carried wheels
def install_carry(carry: Path, site: Path) -> list:
    """Install ``carry/wheels`` into ``site`` (a private folder, offline) and point the parts at it;
    GAN_COURSE_DATA at the carried IDX files, downloads forbidden."""
    wheels = sorted((carry / "wheels").glob("*.whl"))
    if wheels:
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                            "--no-compile", "--disable-pip-version-check", "--find-links", str(carry / "wheels"),
                            "--target", str(site), *map(str, wheels)], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"installing the carried wheels failed:\n{r.stderr[-2000:]}")
    os.environ["GPU_CHECK_SITE"] = str(site)
    sys.path.insert(0, str(site))
    if (carry / "data").is_dir():
        os.environ["GAN_COURSE_DATA"] = str((carry / "data").resolve())
    os.environ["GAN_COURSE_OFFLINE"] = "1"
    return [w.name for w in wheels]


# ---------------------------------------------------------------- the records: under OUT only
def write_out(results: dict, hw: str, dry: bool, out: Path, scratch: Path, carried: list, seconds: float) -> list:
    """gpu_check.json and the few files --apply needs, all in ``out`` (at most MAX_OUT_FILES)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    bench = results.get("bench", {})
    if bench.get("ok"):
        (out / "bench.md").write_text(bench["markdown"])
        written.append(out / "bench.md")
    fm = results.get("fmnist", {})
    if fm.get("ok"):
        run_dir = Path(fm["run_dir"])
        for src, dst in (("eval.json", "fmnist_eval.json"), ("run_config.json", "fmnist_run_config.json")):
            if (run_dir / src).is_file():
                shutil.copyfile(run_dir / src, out / dst)
                written.append(out / dst)
        grids = sorted(run_dir.glob("samples_*.png"))
        if grids:
            shutil.copyfile(grids[-1], out / "fmnist_samples.png")
            written.append(out / "fmnist_samples.png")
    summary = {"hardware": hw, "date": time.strftime("%Y-%m-%d"), "dry_run": dry, "seconds": round(seconds, 1),
               "carried_wheels": carried,
               "parts": {k: {kk: vv for kk, vv in v.items() if kk not in ("markdown", "run_dir")}
                         for k, v in results.items()}}
    (out / "gpu_check.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    written.insert(0, out / "gpu_check.json")
    extra = [p for p in out.rglob("*") if p.is_file() and p not in written]
    if len(written) + len(extra) > MAX_OUT_FILES:
        raise SystemExit(f"{out} holds {len(written) + len(extra)} files, more than the {MAX_OUT_FILES} that come back")
    return written


def apply(src: Path) -> list:
    """Fold a returned OUT folder into the repository's records; returns the files changed."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import measure_runtimes
    import record_run

    summary = json.loads((src / "gpu_check.json").read_text())
    hw, parts, changed = summary["hardware"], summary["parts"], []
    if summary.get("dry_run"):
        print("note: applying a dry run (CPU, tiny sizes): use it only to test this command", file=sys.stderr)
    target = ROOT / "docs" / "gpu_check.json"
    target.write_text(json.dumps(summary, indent=1) + "\n")
    changed.append(target)
    if (src / "bench.md").is_file():
        md = ROOT / "benchmarks" / "RESULTS.md"
        with open(md, "a") as f:
            f.write(f"\n\n## {hw}, {summary['date']} (scripts/gpu_check.py)\n\n{(src / 'bench.md').read_text()}\n")
        changed.append(md)
    nb = parts.get("notebook08", {})
    if nb.get("ok"):
        db = json.loads(measure_runtimes.DB.read_text())
        db.setdefault("08_full_training", {})["gpu_smoke"] = {"seconds": nb["seconds"], "hardware": hw,
                                                               "date": summary["date"]}
        measure_runtimes.DB.write_text(json.dumps(db, indent=2, sort_keys=True) + "\n")
        changed.append(measure_runtimes.DB)
    if (src / "fmnist_eval.json").is_file():
        with tempfile.TemporaryDirectory() as tmp:
            run = Path(tmp)
            shutil.copyfile(src / "fmnist_eval.json", run / "eval.json")
            if (src / "fmnist_run_config.json").is_file():
                shutil.copyfile(src / "fmnist_run_config.json", run / "run_config.json")
            if (src / "fmnist_samples.png").is_file():
                shutil.copyfile(src / "fmnist_samples.png", run / "samples_999999.png")
            changed.append(record_run.record(run, hw + (" (dry run)" if summary.get("dry_run") else "")))
        record_run.write_table()
        changed.append(record_run.TABLE)
    return changed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prepare", action="store_true", help="build the carried folder (here, online)")
    ap.add_argument("--python", default=f"{sys.version_info.major}.{sys.version_info.minor}",
                    help="--prepare: the GPU machine's Python (default: this one's)")
    ap.add_argument("--carry", help="the carried folder: --prepare writes it (default build/gpu-carry), the check "
                                    "installs its wheels and uses its data")
    ap.add_argument("--out-dir", help="where the check writes every record (default: a temporary folder)")
    ap.add_argument("--apply", metavar="DIR", help="fold a returned --out-dir folder into the repository's records")
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU")
    ap.add_argument("--only", help=f"comma-separated parts of {list(PARTS)}")
    ap.add_argument("--site", help="where the carried wheels are installed (default: a temporary folder)")
    ap.add_argument("--part-timeout", type=float, help=argparse.SUPPRESS)   # tests: every part's limit
    ap.add_argument("--part", help=argparse.SUPPRESS)
    ap.add_argument("--scratch", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.prepare:
        return prepare(Path(args.carry or ROOT / "build" / "gpu-carry"), args.python)
    if args.apply:
        for path in apply(Path(args.apply)):
            print("updated", path)
        return 0
    if args.part:                                   # a child process: one part, its JSON into the scratch folder
        sys.path.insert(0, str(ROOT))
        scratch = Path(args.scratch)
        res = FUNCS[args.part](args.dry_run, scratch)
        (scratch / f"{args.part}.json").write_text(json.dumps(res, default=str))
        return 0
    t0 = time.perf_counter()
    out = Path(args.out_dir or tempfile.mkdtemp(prefix="gpu-check-out-"))
    scratch = Path(tempfile.mkdtemp(prefix="gpu-check-scratch-"))
    carried = []
    if args.carry:
        carried = install_carry(Path(args.carry), Path(args.site or scratch / "site"))
    parts = args.only.split(",") if args.only else list(PARTS)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        ap.error(f"unknown part(s) {unknown}; use {list(PARTS)}")
    results = {}
    for name in parts:
        limit = args.part_timeout or (DRY_TIMEOUT if args.dry_run else PARTS[name])
        res = run_part(name, args.dry_run, scratch, limit)
        results[name] = res
        print(f"[{'ok' if res.get('ok') else 'FAILED'}] {name}: {res['wall_seconds']} s"
              + ("" if res.get("ok") else f"\n{str(res.get('error', ''))[-1500:]}"), flush=True)
    hw = hardware(args.dry_run)
    for path in write_out(results, hw, args.dry_run, out, scratch, carried, time.perf_counter() - t0):
        print("wrote", path)
    shutil.rmtree(scratch, ignore_errors=True)
    ok = sum(r.get("ok", False) for r in results.values())
    print(f"gpu_check on {hw}: {ok}/{len(results)} parts ok in {time.perf_counter() - t0:.0f} s; records in {out} "
          f"(apply them here with: python scripts/gpu_check.py --apply DIR)")
    return 0 if ok == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
