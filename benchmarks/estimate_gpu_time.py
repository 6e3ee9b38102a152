#!/usr/bin/env python3
"""Estimate how long notebook 08's runs take on common GPUs, from counted work, until measured.

    python benchmarks/estimate_gpu_time.py            # count, estimate, write docs/gpu_estimates.json
    python benchmarks/estimate_gpu_time.py --check    # exit 1 if the recorded file is out of date

For every CIFAR-10 config shipped in ``gan_utils/configs/`` it counts, on the CPU:

- the FLOPs of one generator step of ``gan_utils.train`` (``torch.utils.flop_counter``; a WGAN-GP
  step is 5 critic steps with the gradient penalty's double backward, then the G step), and
- the aten operations of that step (each is at least one kernel launch on a GPU), and
- the FLOPs of one Inception-v3 forward pass at 299x299 (pytorch-fid's network, random weights:
  FLOPs do not depend on the weights), which prices every FID evaluation.

It then turns them into a time range per GPU with two stated assumptions, because nothing here
was measured on a GPU (the machine that wrote this has none):

    seconds per step = FLOPs / (peak * utilisation) + aten ops * launch cost

with utilisation between ``UTILISATION`` (low, high) of the dense low-precision tensor-core peak
(small 32x32 convolutions reach a small fraction of it) and a launch cost between ``LAUNCH_US``.
``scripts/gpu_check.py`` measures the real steps/s on a GPU and records them next to these
estimates (docs/gpu_check.json); the notebook shows both.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_train import flop_counter  # noqa: E402

from gan_utils.config import RunConfig, load_config  # noqa: E402
from gan_utils.models import DCGANDiscriminator, DCGANGenerator  # noqa: E402
from gan_utils.train import d_step, g_step, make_optimizers  # noqa: E402

OUT = ROOT / "docs" / "gpu_estimates.json"
#: the runs notebook 08 offers: the default that fits a free Colab session, and the long runs (RUN_LENGTH "paper")
RUNS = {"colab": {"DCGAN": "dcgan_cifar10", "WGAN-GP": "wgan_gp_cifar10", "SN-GAN": "sngan_cifar10"},
        "paper": {"DCGAN": "dcgan_cifar10_paper", "WGAN-GP": "wgan_gp_cifar10_paper", "SN-GAN": "sngan_cifar10_paper"}}
#: dense tensor-core peak in TFLOP/s of the precision gan_utils' fast path uses there (vendor data
#: sheets, no sparsity): fp16 on the T4 (no bf16), bf16 on the others
GPUS = {"T4 (Colab free)": 65.0, "L4": 121.0, "A100 40GB": 312.0, "H100 SXM": 989.0}
#: the peak the Inception features run at: they run in float32 (no autocast), which the T4 (Turing, no
#: TF32) executes on its CUDA cores at 8.1 TFLOP/s; from Ampere on, cuDNN runs float32 convolutions as TF32
#: on the tensor cores (torch.backends.cudnn.allow_tf32, on by default): the dense TF32 peaks (vendor data
#: sheets list twice these "with sparsity")
INCEPTION_TFLOPS = {"T4 (Colab free)": 8.1, "L4": 60.0, "A100 40GB": 156.0, "H100 SXM": 494.5}
#: assumed fraction of that peak the Inception network sustains (low, high): its convolutions run on
#: 299x299 inputs in batches of hundreds, far larger than the GAN's 32x32 ones: an assumption too
INCEPTION_UTILISATION = (0.30, 0.60)
#: assumed fraction of that peak sustained by these small convolutions (low, high): an assumption
UTILISATION = (0.10, 0.25)
#: assumed cost of one aten operation's kernel launch(es) in microseconds (slow, fast)
LAUNCH_US = (10.0, 5.0)
#: FID evaluations read the 50 000 training images once (cached afterwards) and n_eval samples each time
N_REFERENCE = 50_000


class _OpCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.n += 1
        return func(*args, **(kwargs or {}))


def _one_step(G, D, cfg, opt_g, opt_d, real):
    """One generator step of gan_utils.train.train, written out (fast path off)."""
    for _ in range(cfg.n_critic):
        z = torch.randn(real.shape[0], cfg.latent_dim)
        with torch.set_grad_enabled(cfg.n_critic == 1):
            fake = G(z)
        d_step(D, real, fake, opt_d, cfg)
    if cfg.n_critic != 1:
        fake = G(torch.randn(real.shape[0], cfg.latent_dim))
    g_step(D, fake, opt_g, cfg, G)


def count_step(name: str) -> dict:
    """FLOPs (counted at batch 2, scaled to the config's batch) and aten ops (at the real batch:
    the number of kernels does not grow with the batch) of one generator step."""
    opts = load_config(name)
    rc = RunConfig.from_options({**opts, "dataset": "synthetic", "channels": 3, "device": "cpu"})
    cfg = rc.train
    out = {"config": name, "batch_size": cfg.batch_size, "n_critic": cfg.n_critic, "width": rc.width,
           "steps": cfg.steps, "eval_every": rc.eval_every, "n_eval": rc.n_eval}
    for batch, what in ((2, "flops"), (cfg.batch_size, "ops")):
        torch.manual_seed(0)
        G = DCGANGenerator(cfg.latent_dim, 3, rc.image_size, rc.width)
        D = DCGANDiscriminator(3, rc.image_size, rc.width, norm=rc.norm)
        opt_g, opt_d = make_optimizers(G, D, cfg)
        real = torch.rand(batch, 3, rc.image_size, rc.image_size) * 2 - 1
        _one_step(G, D, cfg, opt_g, opt_d, real)            # warm (optimizer state created)
        if what == "flops":
            with flop_counter() as fc:
                _one_step(G, D, cfg, opt_g, opt_d, real)
            out["gflop_per_step"] = fc.get_total_flops() * cfg.batch_size / batch / 1e9
        else:
            with _OpCounter() as oc:
                _one_step(G, D, cfg, opt_g, opt_d, real)
            out["aten_ops_per_step"] = oc.n
    return out


def inception_gflop_per_image() -> float:
    """FLOPs of pytorch-fid's FID Inception network; its weights are not needed (nor downloaded):
    the weight loading is skipped and the random initial weights do the same arithmetic."""
    from unittest import mock

    from pytorch_fid import inception as pfi

    with mock.patch.object(pfi, "load_state_dict_from_url", lambda *a, **k: {}), \
            mock.patch.object(torch.nn.Module, "load_state_dict", lambda self, *a, **k: None):
        net = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    with torch.no_grad(), flop_counter() as fc:
        net(torch.rand(2, 3, 32, 32))                        # pytorch-fid resizes to 299x299 inside
    return fc.get_total_flops() / 2 / 1e9


def estimate(counts: dict, inception_gflop: float) -> dict:
    table = {}
    for gpu, peak in GPUS.items():
        row = {}
        for length, runs in RUNS.items():
            total = [0.0, 0.0]                               # (slow, fast) seconds for both runs
            for label, name in runs.items():
                c = counts[name]
                evals = len(set(range(c["eval_every"], c["steps"] + 1, c["eval_every"])) | {c["steps"]})
                for i, (util, launch, inc_util) in enumerate(zip(UTILISATION, LAUNCH_US, INCEPTION_UTILISATION)):
                    step = c["gflop_per_step"] * 1e9 / (peak * 1e12 * util) + c["aten_ops_per_step"] * launch * 1e-6
                    inception = inception_gflop * 1e9 / (INCEPTION_TFLOPS[gpu] * 1e12 * inc_util)   # float32 features
                    total[i] += c["steps"] * step + evals * c["n_eval"] * inception
            for i, inc_util in enumerate(INCEPTION_UTILISATION):   # the reference statistics, once
                total[i] += N_REFERENCE * inception_gflop * 1e9 / (INCEPTION_TFLOPS[gpu] * 1e12 * inc_util)
            row[length] = {"minutes_slow": round(total[0] / 60, 1), "minutes_fast": round(total[1] / 60, 1)}
        table[gpu] = row
    return table


def build() -> dict:
    names = sorted({n for runs in RUNS.values() for n in runs.values()})
    counts = {n: count_step(n) for n in names}
    inc = inception_gflop_per_image()
    return {
        "what": "estimated wall time of notebook 08's three CIFAR-10 runs (DCGAN + WGAN-GP + SN-GAN, evaluations "
                "included), from counted work and two assumptions; NOT measured on a GPU",
        "counted_on": "CPU, torch " + torch.__version__.split("+")[0], "date": date.today().isoformat(),
        "assumptions": {"utilisation_of_dense_peak": list(UTILISATION), "launch_us_per_aten_op": list(LAUNCH_US),
                        "peak_tflops": GPUS, "inception_peak_tflops": INCEPTION_TFLOPS,
                        "inception_utilisation": list(INCEPTION_UTILISATION),
                        "reference_images": N_REFERENCE},
        "per_step": counts, "inception_gflop_per_image": round(inc, 2),
        "minutes": estimate(counts, inc),
    }


START, END = "<!-- gpu-estimates:start -->", "<!-- gpu-estimates:end -->"


def table(est: dict) -> str:
    """The per-GPU estimate table (markdown), as the README and notebook 08 show it."""
    runs = est["per_step"]
    head = ("| GPU | default run (" + " + ".join(f"{runs[n]['steps']:,} {k}" for k, n in RUNS["colab"].items())
            + " steps) | long runs (" + " + ".join(f"{runs[n]['steps']:,}" for n in RUNS["paper"].values()) + ") |")
    rows = [head, "|---|---|---|"]
    for gpu, row in est["minutes"].items():
        cells = [f"{row[k]['minutes_fast']:.0f}–{row[k]['minutes_slow']:.0f} min" for k in ("colab", "paper")]
        rows.append(f"| {gpu} | {cells[0]} | {cells[1]} |")
    a = est["assumptions"]
    rows.append("")
    rows.append("Estimated, not measured: counted work per generator step ("
                + ", ".join(f"{k} {runs[n]['gflop_per_step']:.0f} GFLOP / {runs[n]['aten_ops_per_step']:,} aten ops"
                            for k, n in RUNS["colab"].items())
                + f"; Inception {est['inception_gflop_per_image']:.1f} GFLOP per evaluated image) at "
                f"{a['utilisation_of_dense_peak'][0]:.0%}–{a['utilisation_of_dense_peak'][1]:.0%} of each GPU's dense "
                f"fp16/bf16 peak (the float32 Inception features: {a['inception_utilisation'][0]:.0%}–"
                f"{a['inception_utilisation'][1]:.0%} of the float32 peak, TF32 from Ampere on, 8.1 TFLOP/s on the T4) plus {a['launch_us_per_aten_op'][1]:.0f}–{a['launch_us_per_aten_op'][0]:.0f} µs per "
                "aten op, evaluations included (`python benchmarks/estimate_gpu_time.py`, docs/gpu_estimates.json). "
                "`scripts/gpu_check.py` records measured steps/s beside them when it runs on a GPU (docs/gpu_check.json).")
    return START + "\n" + "\n".join(rows) + "\n" + END


def write_readme(est: dict) -> None:
    import re

    readme = ROOT / "README.md"
    readme.write_text(re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: table(est), readme.read_text(),
                             flags=re.S))


def _rounded(d):
    return json.loads(json.dumps(d), parse_float=lambda s: round(float(s), 1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only compare with the recorded file")
    ap.add_argument("--write-readme", action="store_true", help="only rewrite the README's table from the file")
    args = ap.parse_args(argv)
    if args.write_readme:
        write_readme(json.loads(OUT.read_text()))
        return 0
    torch.set_num_threads(min(2, torch.get_num_threads()))
    new = build()
    if args.check:
        old = json.loads(OUT.read_text())
        same = all(_rounded(old[k]) == _rounded(new[k]) for k in ("per_step", "minutes", "assumptions"))
        print("docs/gpu_estimates.json is current" if same else "docs/gpu_estimates.json is OUT OF DATE")
        return 0 if same else 1
    OUT.write_text(json.dumps(new, indent=1) + "\n")
    write_readme(new)
    for name, c in new["per_step"].items():
        print(f"{name:>22}: {c['gflop_per_step']:8.1f} GFLOP and {c['aten_ops_per_step']:5d} aten ops per generator step")
    print(f"Inception-v3 at 299x299: {new['inception_gflop_per_image']:.2f} GFLOP per image")
    for gpu, row in new["minutes"].items():
        print(f"{gpu:>16}: " + "; ".join(f"{k} {v['minutes_fast']:.0f}-{v['minutes_slow']:.0f} min" for k, v in row.items()))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
