"""gan_utils.train.train vs a plain reference loop, alternated in one process (images/s and ratio).

    python benchmarks/bench_train.py --device cpu --quick            # about a minute on 2 CPU cores
    python benchmarks/bench_train.py --device cpu --alternations 9   # the real sizes: ~6 min on 2 cores
    python benchmarks/bench_train.py --device cuda --out benchmarks/RESULTS.md   # appends its table

Configurations (same architecture, batch and initial weights for both loops):

- ``dcgan32``  DCGAN 32x32 1-channel, bce-ns, batch 128
- ``dcgan64``  DCGAN 64x64 3-channel, bce-ns, batch 128
- ``wgangp32`` WGAN-GP 32x32 3-channel, LayerNorm critic, n_critic 5, batch 64 (Gulrajani et al.)

The **reference** is written out below, as a learner would copy it: the pytorch/examples DCGAN
recipe (``dcgan/main.py``: a torch ``DataLoader`` over a ``TensorDataset``, D step on real then on
``fake.detach()`` with two backward calls, G step reusing the fake, Adam 2e-4 betas (0.5, 0.999),
its per-step ``.item()`` reads of D(x), D(G(z)) and the losses, ``cudnn.benchmark = True``) and a
plain eager WGAN-GP loop (PyTorch-GAN's ``wgan_gp.py`` with the paper's n_critic = 5 real batches
per G step). Where the recipe is ambiguous the reference gets the faster choice: BCE-with-logits
on the same logit D (no separate Sigmoid), ``drop_last=True`` (no odd-sized last batch),
``persistent_workers=True`` on CUDA (no worker restart per epoch), ``torch.no_grad()`` for the
WGAN-GP critic's fakes, 0 DataLoader workers on the CPU (workers would steal the compute cores).

**gan_utils** is the real :func:`gan_utils.train.train` with its defaults (EMA of G, grad norms,
the fast path ``TrainConfig.fast = None`` = auto), running from an ``InMemoryLoader``; on CUDA
with ``TrainConfig.compile = True`` unless ``--compile`` says otherwise (auto compiles only runs of
10k steps or more, and a benchmark is shorter), its compile time shown in the warm-up line. The two
alternate through ``train``'s ``callback``: train runs a chunk of ``k`` generator steps (one log
flush each, ``log_every = k``), the callback times it (after ``torch.cuda.synchronize()``), runs
``k`` steps of the reference and times those, and hands back. The first chunk of each (set-up,
compilation, cuDNN autotuning) and a trailing one (the final sample grid) are not counted.
Ratio = reference seconds / gan_utils seconds for the same number of images, one per alternation;
we report the median and the spread (min-max) over the alternations.

FLOPs per step are counted with ``torch.utils.flop_counter.FlopCounterMode`` on one step of each
loop at batch 2, scaled by batch/2 (convolution FLOPs are linear in the batch); on CUDA the
achieved FLOP/s is also given as a fraction of the card's dense bf16 peak (``--peak-tflops``
overrides the table below).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

# OpenMP threads that spin while waiting made every step 3-5x slower, and the timings erratic, on
# the shared 2-core machine of RESULTS.md (other processes hold the cores the spinning thread
# waits for). Passive waiting costs both loops the same few microseconds per parallel region on an
# idle machine. It must be set before torch loads its OpenMP runtime; an explicit value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from gan_utils.data import InMemoryLoader, synthetic_images, to_float  # noqa: E402
from gan_utils.models import DCGANDiscriminator, DCGANGenerator  # noqa: E402
from gan_utils.train import TrainConfig, d_step, g_step, make_optimizers, train  # noqa: E402

CONFIGS = {
    "dcgan32": dict(title="DCGAN 32x32 1-ch", loss="bce-ns", channels=1, size=32, batch=128, width=64),
    "dcgan64": dict(title="DCGAN 64x64 3-ch", loss="bce-ns", channels=3, size=64, batch=128, width=64),
    "wgangp32": dict(title="WGAN-GP 32x32 3-ch", loss="wgan-gp", channels=3, size=32, batch=64, width=64),
}
QUICK = {"batch": 32, "width": 32}            # --quick: 16x fewer FLOPs per step than batch 128, width 64
#: generator steps per timed chunk: (cpu --quick, cpu, cuda). On CUDA 50 = TrainConfig.log_every's default.
CHUNK = {"dcgan32": (4, 2, 50), "dcgan64": (2, 1, 50), "wgangp32": (1, 1, 20)}
LATENT = 100
N_IMAGES = 4096

#: dense bf16 tensor-core peak, TFLOP/s (vendor data sheets, no sparsity). T4 and V100 have no bf16:
#: their fp16 peak is listed and the fast path runs float32 there (gan_utils.fast.native_bf16).
PEAK_TFLOPS = [("H200", 989.4), ("H100 SXM", 989.4), ("H100 80GB HBM3", 989.4), ("H100 NVL", 835.0),
               ("H100 PCIe", 756.0), ("H100", 756.0), ("GH200", 989.4), ("A100", 312.0), ("L40S", 362.1),
               ("L4", 121.0), ("A10G", 70.0), ("A10", 125.0), ("RTX 4090", 165.2), ("T4", 65.0),
               ("V100", 125.0)]


# ----------------------------------------------------------------------------- the reference loops
def reference_dcgan_steps(netG, netD, optG, optD, it, k, device):
    """k iterations of pytorch/examples dcgan/main.py's loop body (BCE on logits, our G takes (B, nz))."""
    criterion = nn.BCEWithLogitsLoss()
    for _ in range(k):
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        real_cpu = next(it)[0].to(device)
        b = real_cpu.size(0)
        label = torch.full((b,), 1.0, dtype=real_cpu.dtype, device=device)
        output = netD(real_cpu).view(-1)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        noise = torch.randn(b, LATENT, device=device)
        fake = netG(noise)
        label.fill_(0.0)
        output = netD(fake.detach()).view(-1)
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        optD.step()
        # (2) Update G network: maximize log(D(G(z)))
        netG.zero_grad()
        label.fill_(1.0)
        output = netD(fake).view(-1)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optG.step()
        _ = (errD.item(), errG.item(), D_x, D_G_z1, D_G_z2)  # the recipe prints these every step


def reference_wgangp_steps(G, D, optG, optD, it, k, device, n_critic=5, lambda_gp=10.0):
    """k generator iterations of a plain eager WGAN-GP loop (Gulrajani et al. 2017, Algorithm 1)."""
    for _ in range(k):
        for _ in range(n_critic):
            real = next(it)[0].to(device)
            b = real.size(0)
            with torch.no_grad():
                fake = G(torch.randn(b, LATENT, device=device))
            alpha = torch.rand(b, 1, 1, 1, device=device)
            x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            grad = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)[0]
            gp = ((grad.view(b, -1).norm(2, dim=1) - 1) ** 2).mean()
            d_loss = -D(real).mean() + D(fake).mean() + lambda_gp * gp
            optD.zero_grad()
            d_loss.backward()
            optD.step()
        fake = G(torch.randn(b, LATENT, device=device))
        g_loss = -D(fake).mean()
        optG.zero_grad()
        g_loss.backward()
        optG.step()
        _ = (d_loss.item(), g_loss.item())  # printed every iteration


def endless(loader):
    while True:
        yield from loader


# ----------------------------------------------------------------------------- helpers
def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(spec, seed=0):
    torch.manual_seed(seed)
    G = DCGANGenerator(LATENT, spec["channels"], spec["size"], spec["width"])
    D = DCGANDiscriminator(spec["channels"], spec["size"], spec["width"],
                           norm="layer" if spec["loss"] == "wgan-gp" else "batch")
    return G, D


def train_config(spec, **kw):
    return TrainConfig.preset(spec["loss"], latent_dim=LATENT, batch_size=spec["batch"], **kw)


class _GlobalOnly:
    """Stands in for FlopCounterMode's module tracker: its backward hooks raise inside
    ``torch.autograd.grad`` (the gradient penalty), and we only need the global count."""
    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def flop_counter() -> FlopCounterMode:
    fc = FlopCounterMode(display=False)
    fc.mod_tracker = _GlobalOnly()
    return fc


def count_flops(spec, device):
    """FLOPs of one generator step of each loop, counted at batch 2 and scaled to the batch."""
    small = dict(spec, batch=2)
    out = {}
    G, D = build(small)
    G, D = G.to(device), D.to(device)
    cfg = train_config(small, fast=False, ema_decay=0.0)
    opt_g, opt_d = make_optimizers(G, D, cfg, device)
    real = torch.rand(2, spec["channels"], spec["size"], spec["size"], device=device) * 2 - 1
    with flop_counter() as fc:   # the step of gan_utils.train.train, written out
        for _ in range(cfg.n_critic):
            z = torch.randn(2, LATENT, device=device)
            if cfg.n_critic == 1:
                fake = G(z)
            else:
                with torch.no_grad():
                    fake = G(z)
            d_step(D, real, fake, opt_d, cfg)
        if cfg.n_critic != 1:
            fake = G(torch.randn(2, LATENT, device=device))
        g_step(D, fake, opt_g, cfg, G)
    out["gan_utils"] = fc.get_total_flops() * spec["batch"] / 2
    G, D = build(small)
    G, D = G.to(device), D.to(device)
    opt_g, opt_d = make_optimizers(G, D, cfg)
    data = [(real,)] * 10
    with flop_counter() as fc:
        if spec["loss"] == "wgan-gp":
            reference_wgangp_steps(G, D, opt_g, opt_d, iter(data), 1, device)
        else:
            reference_dcgan_steps(G, D, opt_g, opt_d, iter(data), 1, device)
    out["reference"] = fc.get_total_flops() * spec["batch"] / 2
    return out


def peak_tflops(device, override):
    if override:
        return float(override), "--peak-tflops"
    if device.type != "cuda":
        return None, "n/a (CPU)"
    name = torch.cuda.get_device_name(device)
    for key, tf in PEAK_TFLOPS:
        if key in name:
            return tf, f"{name}: {tf} TFLOP/s dense bf16 (data sheet)" + (
                " [fp16: no bf16 on this GPU]" if key in ("T4", "V100") else "")
    return None, f"{name}: unknown peak (pass --peak-tflops)"


def loadavg():
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# ----------------------------------------------------------------------------- one configuration
def bench_config(name, spec, device, chunk, alternations, fast, workers, compile_="auto", log=print):
    G, D = build(spec)
    G_ref, D_ref = copy.deepcopy(G).to(device), copy.deepcopy(D).to(device)
    images = synthetic_images(N_IMAGES, spec["channels"], spec["size"], seed=1)
    loader = InMemoryLoader(images, spec["batch"], device=device, seed=0)
    ref_loader = DataLoader(TensorDataset(to_float(images.images)), batch_size=spec["batch"], shuffle=True,
                            drop_last=True, num_workers=workers, persistent_workers=workers > 0)
    ref_it = endless(ref_loader)
    lr = 1e-4 if spec["loss"] == "wgan-gp" else 2e-4
    betas = (0.0, 0.9) if spec["loss"] == "wgan-gp" else (0.5, 0.999)
    optD_ref = torch.optim.Adam(D_ref.parameters(), lr=lr, betas=betas)
    optG_ref = torch.optim.Adam(G_ref.parameters(), lr=lr, betas=betas)

    def ref_chunk():
        sync(device)
        t = time.perf_counter()
        if spec["loss"] == "wgan-gp":
            reference_wgangp_steps(G_ref, D_ref, optG_ref, optD_ref, ref_it, chunk, device)
        else:
            reference_dcgan_steps(G_ref, D_ref, optG_ref, optD_ref, ref_it, chunk, device)
        sync(device)
        return time.perf_counter() - t

    n_chunks = 1 + alternations                  # warm-up + timed; then 1 trailing step, not timed
    cfg = train_config(spec, steps=n_chunks * chunk + 1, log_every=chunk, sample_every=0, n_samples=16,
                       fast={"auto": None, "on": True, "off": False}[fast],
                       compile={"auto": None, "on": True, "off": False}[compile_])
    t_gan, t_ref, warmup = [], [], {}
    state = {"resume": time.perf_counter(), "chunk": 0}

    def callback(info):
        sync(device)
        now = time.perf_counter()
        i = state["chunk"]
        state["chunk"] += 1
        if i >= n_chunks:                        # the trailing step (final sample grid)
            return
        dt_gan = now - state["resume"]
        dt_ref = ref_chunk()
        if i > 0:
            t_gan.append(dt_gan)
            t_ref.append(dt_ref)
            log(f"  [{name}] alternation {i}/{alternations}: gan_utils {dt_gan:.3f} s, reference {dt_ref:.3f} s, "
                f"ratio {dt_ref / dt_gan:.3f}")
        else:
            warmup.update(gan_utils=dt_gan, reference=dt_ref)
            log(f"  [{name}] warm-up chunk: gan_utils {dt_gan:.1f} s (set-up, compile if any), reference {dt_ref:.1f} s")
        sync(device)
        state["resume"] = time.perf_counter()

    result = train(G, D, loader, cfg, device=device, callback=callback, progress=False)
    images_per_chunk = chunk * spec["batch"] * cfg.n_critic
    ratios = [r / g for g, r in zip(t_gan, t_ref)]
    flops = count_flops(spec, device)
    return {
        "name": name, "title": spec["title"], "loss": spec["loss"], "batch": spec["batch"], "width": spec["width"],
        "n_critic": cfg.n_critic, "chunk_steps": chunk, "alternations": alternations,
        "gan_utils_s": t_gan, "reference_s": t_ref, "ratios": ratios,
        "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
        "gan_utils_img_s": images_per_chunk / statistics.median(t_gan),
        "reference_img_s": images_per_chunk / statistics.median(t_ref),
        "flops_per_step": flops, "fast_plan": result.fast, "warmup_s": warmup,
        "gan_utils_flop_s": flops["gan_utils"] * chunk / statistics.median(t_gan),
        "reference_flop_s": flops["reference"] * chunk / statistics.median(t_ref),
    }


def _flops(x):
    return f"{x / 1e12:.1f} T" if x >= 1e12 else f"{x / 1e9:.1f} G"


def markdown(results, meta):
    peak = meta["peak_tflops"]
    lines = [f"### {meta['device_name']} — {meta['date']}", "",
             f"- command: `{meta['command']}`",
             f"- torch {meta['torch']}, Python {meta['python']}, device `{meta['device']}`"
             + (f", {meta['threads']} threads, OMP_WAIT_POLICY={meta['omp_wait_policy']}" if meta["device"] == "cpu" else ""),
             f"- load average (1/5/15 min) before: {meta['load_before']}, after: {meta['load_after']}",
             f"- gan_utils: TrainConfig.fast={meta['fast']}, compile={meta['compile']}; reference DataLoader "
             f"workers: {meta['workers']}; peak used: {meta['peak_note']}",
             f"- wall time of the whole benchmark: {meta['wall_s']:.0f} s", "",
             "| configuration | batch, width | gan_utils img/s | reference img/s | ratio (median) | spread (min–max) "
             "| alternations | GFLOP/step gan_utils / ref | achieved FLOP/s gan_utils / ref | fraction of bf16 peak (gan_utils / ref) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        f = r["flops_per_step"]
        frac = (f"{r['gan_utils_flop_s'] / (peak * 1e12):.1%} / {r['reference_flop_s'] / (peak * 1e12):.1%}"
                if peak else "n/a")
        lines.append(f"| {r['title']} ({r['loss']}{', n_critic ' + str(r['n_critic']) if r['n_critic'] > 1 else ''}) "
                     f"| {r['batch']}, {r['width']} | {r['gan_utils_img_s']:.0f} | {r['reference_img_s']:.0f} "
                     f"| **{r['ratio_median']:.3f}** | {r['ratio_min']:.3f}–{r['ratio_max']:.3f} "
                     f"| {r['alternations']} × {r['chunk_steps']} steps | {f['gan_utils'] / 1e9:.1f} / {f['reference'] / 1e9:.1f} "
                     f"| {_flops(r['gan_utils_flop_s'])} / {_flops(r['reference_flop_s'])} | {frac} |")
    lines += ["", "Per-alternation ratios (reference s / gan_utils s), and the untimed warm-up chunk:", ""]
    for r in results:
        w = r["warmup_s"]
        lines.append(f"- {r['name']}: " + ", ".join(f"{x:.3f}" for x in r["ratios"])
                     + f" (warm-up: gan_utils {w.get('gan_utils', float('nan')):.1f} s, reference "
                     f"{w.get('reference', float('nan')):.1f} s)")
    plans = {json.dumps(r["fast_plan"], sort_keys=True) for r in results}
    lines += ["", "gan_utils fast plan(s): " + "; ".join(f"`{p}`" for p in sorted(plans)), ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help=f"smaller batch and width ({QUICK}): a few minutes on a CPU")
    ap.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated subset of {list(CONFIGS)}")
    ap.add_argument("--alternations", type=int, default=7, help="timed alternations per configuration (>= 5)")
    ap.add_argument("--chunk", type=int, help="generator steps per timed chunk (default: per config and device)")
    ap.add_argument("--batch", type=int, help="override every configuration's batch size")
    ap.add_argument("--width", type=int, help="override every configuration's model width")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads on the CPU (default 2)")
    ap.add_argument("--workers", type=int, help="reference DataLoader workers (default: 0 on CPU, 2 on CUDA)")
    ap.add_argument("--fast", choices=["auto", "on", "off"], default="auto", help="TrainConfig.fast for gan_utils")
    ap.add_argument("--compile", choices=["auto", "on", "off"],
                    help="TrainConfig.compile for gan_utils (default: on for CUDA, to measure the compiled "
                         "steady state, whose compile time is in the warm-up chunk; auto on the CPU)")
    ap.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak, TFLOP/s")
    ap.add_argument("--out", help="append the markdown report to this file")
    ap.add_argument("--json", help="write the raw numbers to this JSON file")
    args = ap.parse_args(argv)
    if args.alternations < 5:
        ap.error("--alternations must be >= 5 (the ratio is a median over alternations)")
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as dcgan/main.py does (train() keeps it when it finds it on)
    compile_ = args.compile or ("on" if device.type == "cuda" else "auto")
    workers = args.workers if args.workers is not None else (2 if device.type == "cuda" else 0)
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = set(names) - set(CONFIGS)
    if unknown:
        ap.error(f"unknown configs {sorted(unknown)}; use {list(CONFIGS)}")
    meta = {"command": "python " + " ".join([sys.argv[0]] + (argv if argv is not None else sys.argv[1:])),
            "date": time.strftime("%Y-%m-%d %H:%M %Z"), "torch": torch.__version__,
            "python": platform.python_version(), "device": device.type, "threads": torch.get_num_threads(),
            "workers": workers, "load_before": loadavg(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "fast": args.fast, "compile": compile_}
    meta["device_name"] = (torch.cuda.get_device_name(device) if device.type == "cuda"
                           else f"{cpu_name()} ({os.cpu_count()} logical CPUs visible)")
    meta["peak_tflops"], meta["peak_note"] = peak_tflops(device, args.peak_tflops)
    print(f"# bench_train on {meta['device_name']}, torch {meta['torch']}, load {meta['load_before']}", flush=True)
    t0 = time.perf_counter()
    results = []
    for name in names:
        spec = dict(CONFIGS[name])
        if args.quick:
            spec.update(QUICK)
        if args.batch:
            spec["batch"] = args.batch
        if args.width:
            spec["width"] = args.width
        chunk = args.chunk or CHUNK[name][2 if device.type == "cuda" else (0 if args.quick else 1)]
        print(f"{name}: {spec}, chunk {chunk} steps", flush=True)
        r = bench_config(name, spec, device, chunk, args.alternations, args.fast, workers, compile_,
                         log=lambda s: print(s, flush=True))
        print(f"{name}: ratio median {r['ratio_median']:.3f} (min {r['ratio_min']:.3f}, max {r['ratio_max']:.3f}); "
              f"gan_utils {r['gan_utils_img_s']:.0f} img/s, reference {r['reference_img_s']:.0f} img/s", flush=True)
        results.append(r)
    meta["load_after"] = loadavg()
    meta["wall_s"] = time.perf_counter() - t0
    report = markdown(results, meta)
    print("\n" + report)
    if args.out:
        with open(args.out, "a") as f:
            f.write(report + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str))
    return results


if __name__ == "__main__":
    main()
