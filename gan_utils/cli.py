"""Command line for long runs outside the notebooks (the same code notebooks 04 and 08 call).

    python -m gan_utils train --model dcgan --loss bce-ns --dataset fashion-mnist --image-size 32 \\
        --steps 5000 --out runs/dcgan [--resume] [--seed 0] [--config configs/dcgan_fmnist.json]
    python -m gan_utils sample --checkpoint runs/dcgan/checkpoint_latest.pt --n 1000 --out samples.pt
    python -m gan_utils run --config configs/dcgan_cifar10.json --out runs/dcgan_cifar10 [--eval-every 5000]

``run`` (or ``train ... --eval-every N``) is the driver of notebook 08
(:func:`gan_utils.experiment.run_experiment`): it trains in chunks of N generator steps, measures
FID (or FD-classifier) of the EMA generator after each, logs it to ``OUT/eval.json``, keeps the
best checkpoint as ``OUT/best.pt``, and always resumes a run found in OUT (run the same command
again after an interruption; a finished run trains nothing more).

``--config`` reads a JSON file (see ``configs/``) whose keys are the flags below (``image_size``,
``width``...) plus any :class:`gan_utils.train.TrainConfig` field; flags given on the command line
win over the file.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

import torch

RUN_KEYS = {"model", "dataset", "image_size", "width", "critic_norm", "device", "out", "resume", "seed", "config"}


def build_run(opts: dict):
    """(G, D, loader, TrainConfig) for a run described by ``opts`` (CLI flags / config file)."""
    from .data import InMemoryLoader, load_dataset, synthetic_images
    from .models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator, default_critic_norm
    from .runtime import get_device
    from .train import TrainConfig

    train_fields = {f.name for f in fields(TrainConfig)}
    loss = opts.get("loss", "bce-ns")
    tcfg = TrainConfig.preset(loss, **{k: v for k, v in opts.items() if k in train_fields and k != "loss" and v is not None})
    device = get_device(opts.get("device"))
    size = int(opts.get("image_size", 32))
    if opts.get("dataset", "fashion-mnist") == "synthetic":
        ds = synthetic_images(2048, int(opts.get("channels", 3)), size, seed=tcfg.seed)
    else:
        ds = load_dataset(opts.get("dataset", "fashion-mnist"), train=True, image_size=size)
    channels = ds.images.shape[1]
    width = int(opts.get("width", 64))
    norm = opts.get("critic_norm") or default_critic_norm(loss)
    if opts.get("model", "dcgan") == "dcgan":
        G = DCGANGenerator(tcfg.latent_dim, channels, size, width)
        D = DCGANDiscriminator(channels, size, width, norm=norm)
    elif opts["model"] == "mlp":
        shape = tuple(ds.images.shape[1:])
        G = MLPGenerator(tcfg.latent_dim, shape, hidden=width * 8, depth=3, tanh_output=True)
        D = MLPDiscriminator(shape, hidden=width * 8, depth=3, spectral=norm == "spectral")
    else:
        raise ValueError(f"--model {opts['model']!r}: use dcgan or mlp")
    loader = InMemoryLoader(ds, tcfg.batch_size, device=device, seed=tcfg.seed)
    return G.to(device), D.to(device), loader, tcfg


def _train(args) -> int:
    from .runtime import seed_everything
    from .train import train

    opts = json.loads(Path(args.config).read_text()) if args.config else {}
    for k, v in vars(args).items():
        if k not in ("cmd", "func", "config") and v is not None:
            opts[k] = v
    seed_everything(int(opts.get("seed", 0)))
    G, D, loader, cfg = build_run(opts)
    out = Path(opts.get("out", "runs/latest"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "run_config.json").write_text(json.dumps({**opts, "out": str(out)}, indent=2))
    r = train(G, D, loader, cfg, out_dir=out, resume=bool(opts.get("resume")))
    print(f"done: {cfg.steps} steps, {r.seconds:.1f} s this session; checkpoint {out / 'checkpoint_latest.pt'}")
    return 0


def _run(args) -> int:
    """``run`` and ``train --eval-every``: the experiment driver of notebook 08."""
    from .experiment import run_experiment

    skip = {"cmd", "func", "config", "out", "smoke", "resume", "features"}
    overrides = {k: v for k, v in vars(args).items() if k not in skip and v is not None}
    config = args.config if args.config else {}
    out = args.out or f"runs/{Path(args.config).stem if args.config else 'latest'}"
    r = run_experiment(config, out, smoke=bool(getattr(args, "smoke", False)), overrides=overrides,
                       features=args.features)
    b = r.best
    print(f"done: {r.summary()}")
    if b is not None:
        print(f"best checkpoint: {Path(out) / 'best.pt'} (step {b['step']}); log: {Path(out) / 'eval.json'}; "
              f"training time {r.train_seconds / 60:.1f} min over all sessions, this call {r.seconds / 60:.1f} min")
    return 0


def _train_or_run(args) -> int:
    return _run(args) if args.eval_every is not None else _train(args)


def _add_eval_flags(p, every_help: str) -> None:
    p.add_argument("--eval-every", dest="eval_every", type=int, help=every_help)
    p.add_argument("--n-eval", dest="n_eval", type=int, help="generated samples per evaluation (default 10000)")
    p.add_argument("--n-ref", dest="n_ref", type=int, help="reference (training) images (default: all)")
    p.add_argument("--features", choices=["inception", "classifier", "auto", "pixels"],
                   help="inception: FID (CIFAR-10 default); classifier: FD-classifier (Fashion-MNIST/MNIST "
                        "default); pixels: a cheap stand-in for the synthetic data")


def _sample(args) -> int:
    from .checkpoint import load_generator

    torch.manual_seed(args.seed)
    G = load_generator(args.checkpoint, ema=not args.raw, device=args.device or "cpu")
    chunks = []
    with torch.no_grad():
        for i in range(0, args.n, 500):
            z = torch.randn(min(500, args.n - i), G.latent_dim, device=next(G.parameters()).device)
            chunks.append(G(z).float().clamp_(-1, 1).cpu())
    x = torch.cat(chunks)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(x, args.out)
    print(f"wrote {tuple(x.shape)} samples in [-1, 1] to {args.out}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gan_utils", description="Train and sample the course's GANs.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a GAN, writing checkpoints, history.json and sample grids")
    t.add_argument("--config", help="JSON file of options (configs/*.json); flags override it")
    t.add_argument("--model", choices=["dcgan", "mlp"])
    t.add_argument("--loss", choices=["bce-ns", "bce-saturating", "wgan-clip", "wgan-gp", "wgan-sn"])
    t.add_argument("--dataset", help="fashion-mnist (offline), mnist, cifar10, or synthetic")
    t.add_argument("--image-size", dest="image_size", type=int, choices=[28, 32, 64])
    t.add_argument("--width", type=int, help="base channel width of G and D (default 64)")
    t.add_argument("--critic-norm", dest="critic_norm", choices=["batch", "layer", "none", "spectral"])
    t.add_argument("--steps", type=int, help="generator steps")
    t.add_argument("--batch-size", dest="batch_size", type=int)
    t.add_argument("--ckpt-every", dest="ckpt_every", type=int)
    t.add_argument("--sample-every", dest="sample_every", type=int)
    t.add_argument("--out", help="run directory (checkpoints, history.json, samples_*.png)")
    t.add_argument("--resume", action="store_true", default=None, help="continue from OUT/checkpoint_latest.pt")
    t.add_argument("--seed", type=int)
    t.add_argument("--device", help="cuda, mps or cpu (default: best available)")
    _add_eval_flags(t, "evaluate the EMA generator every N steps (switches to the `run` driver: "
                       "eval.json, best.pt, always resumes)")
    t.set_defaults(func=_train_or_run)
    r = sub.add_parser("run", help="train with periodic FID evaluation, best checkpoint and automatic resume "
                                   "(notebook 08's driver)")
    r.add_argument("--config", required=True, help="JSON file (configs/*.json) or a name in configs/, "
                                                    "e.g. dcgan_cifar10")
    r.add_argument("--out", help="run directory (default runs/<config name>)")
    _add_eval_flags(r, "evaluate every N generator steps (default: the config's eval_every)")
    r.add_argument("--dataset", help="override the config's dataset (fashion-mnist, mnist, cifar10, synthetic)")
    r.add_argument("--steps", type=int, help="override the config's generator steps")
    r.add_argument("--width", type=int)
    r.add_argument("--batch-size", dest="batch_size", type=int)
    r.add_argument("--seed", type=int)
    r.add_argument("--device", help="cuda, mps or cpu (default: best available)")
    r.add_argument("--smoke", action="store_true", help="tiny sizes: checks the whole path in seconds on a CPU")
    r.set_defaults(func=_run)
    s = sub.add_parser("sample", help="write N samples (N, C, H, W) in [-1, 1] from a checkpoint's EMA generator")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--n", type=int, default=1000)
    s.add_argument("--out", required=True, help="output .pt file")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--raw", action="store_true", help="use the raw generator instead of the EMA one")
    s.add_argument("--device")
    s.set_defaults(func=_sample)
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, RuntimeError, FileNotFoundError) as e:  # user errors: one clear message, no traceback
        if type(e).__name__ in ("ValueError", "DataUnavailableError", "CheckpointError", "NonFiniteLossError",
                                "InceptionUnavailableError", "FileNotFoundError"):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
