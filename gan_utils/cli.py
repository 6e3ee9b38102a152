"""Command line for long runs outside the notebooks (the same code notebooks 04 and 08 call).

    python -m gan_utils train --model dcgan --loss bce-ns --dataset fashion-mnist --image-size 32 \\
        --steps 5000 --out runs/dcgan [--resume | --overwrite] [--seed 0] [--config dcgan_fmnist]
    python -m gan_utils run --config dcgan_cifar10 --out runs/dcgan_cifar10 [--eval-every 5000]
    python -m gan_utils sample --checkpoint runs/dcgan/checkpoint_latest.pt --n 1000 --out samples.pt
    python -m gan_utils train --dataset folder:my_images --image-size 64 --channels 3 --conditional --out runs/mine
    python -m gan_utils sample --checkpoint runs/mine --class 2 --n 64 --out class2.pt
    python -m gan_utils train --config style_fmnist --out runs/style           # notebook 12's style generator
    python -m gan_utils sample --checkpoint runs/style --truncation 0.7 --n 64 --out style.pt   # psi in W
    torchrun --standalone --nproc_per_node=4 -m gan_utils run --config wgan_gp_cifar10 --out runs/wgan_gp
    python -m gan_utils train --model pix2pix --dataset paired:my_pairs --image-size 64 --out runs/p2p
    python -m gan_utils train --model cyclegan --dataset unpaired:my_two_folders --out runs/cg [--resume]
    python -m gan_utils translate --checkpoint runs/cg --in photos/ --out translated/ [--direction BtoA]

``train --model pix2pix|cyclegan`` trains an image-to-image translator (notebook 11,
:mod:`gan_utils.translation`) on two folders PATH/A and PATH/B (``paired:``: files of the same name
form a pair); its options are those of :class:`gan_utils.config.TranslationConfig`, read by the same
strict loader. ``translate`` writes one PNG per input image, same names, at the model's size.

Under ``torchrun`` (one process per GPU, :mod:`gan_utils.distributed`) ``train`` and ``run`` train
with DistributedDataParallel; ``batch_size`` stays the global batch, rank 0 alone writes and prints.

``run`` (or ``train ... --eval-every N``) is the driver of notebook 08
(:func:`gan_utils.experiment.run_experiment`): it trains in chunks of N generator steps, measures
FID (or FD-classifier) of the EMA generator after each, logs it to ``OUT/eval.json``, keeps the
best generator as ``OUT/best.pt``, and always resumes a run found in OUT (run the same command
again after an interruption; a finished run trains nothing more).

``--config`` takes a JSON file or the name of a shipped config (``gan_utils/configs/``); its keys
are the options of :mod:`gan_utils.config` and the flags below win over it. Both verbs read it
with the same loader, which refuses unknown keys and wrong types.

This module is a leaf: argparse in, library calls out; nothing imports it. Errors a user can
cause (:class:`gan_utils.runtime.UserError`) print one line and exit with status 2; Ctrl-C saves
a checkpoint after the current step and exits with 130.
"""
from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path

#: checkpoint interval of ``train`` when neither the config nor ``--ckpt-every`` sets one: a kill
#: loses at most this many steps (a width-64 DCGAN checkpoint is ~25 MB, written in well under 1 s)
DEFAULT_CKPT_EVERY = 500

#: files a run writes in its folder (what ``--overwrite`` removes)
RUN_FILES = ("checkpoint_latest.pt", "history.json", "run_config.json", "eval.json", "best.pt", "samples_*.png")


def _add_option_flags(p, config_required: bool) -> None:
    """The run options both verbs take (keys of gan_utils.config); given flags win over --config."""
    p.add_argument("--config", required=config_required,
                   help="JSON file or shipped config name (dcgan_fmnist, wgan_gp_cifar10, ...); flags override it")
    p.add_argument("--model", choices=["dcgan", "mlp", "style", "pix2pix", "cyclegan"],
                   help="dcgan (notebook 04), mlp (notebook 03) or style (the small style-based generator of notebook "
                        "12): a GAN; pix2pix or cyclegan: an image-to-image translator (notebook 11)")
    p.add_argument("--style-mode", dest="style_mode", choices=["demod", "adain"],
                   help="--model style: StyleGAN2's weight demodulation (default) or StyleGAN's AdaIN")
    p.add_argument("--mapping-layers", dest="mapping_layers", type=int,
                   help="--model style: layers of the mapping network z -> w (default 4; StyleGAN: 8)")
    p.add_argument("--w-dim", dest="w_dim", type=int, help="--model style: dimension of W (default: the latent's)")
    p.add_argument("--style-mixing", dest="style_mixing", type=float,
                   help="--model style: share of training batches made from two codes (default 0.9; 0 = off)")
    p.add_argument("--loss", choices=["bce-ns", "bce-saturating", "feature-matching", "wgan-clip", "wgan-gp", "wgan-sn",
                                      "hinge", "lsgan", "acgan"],
                   help="feature-matching: D as bce-ns, G matches the mean of D's last hidden layer (Salimans et al. 2016)")
    p.add_argument("--lr-g", dest="lr_g", type=float, help="generator learning rate (default: the loss's preset)")
    p.add_argument("--lr-d", dest="lr_d", type=float,
                   help="discriminator learning rate; TTUR as in Heusel et al. 2017, Table 1: "
                        "--loss bce-ns --lr-d 1e-4 --lr-g 5e-4")
    p.add_argument("--r1-gamma", dest="r1_gamma", type=float,
                   help="R1 penalty gamma/2 E||grad D(x)||^2 on the reals, with any loss (0 = off)")
    p.add_argument("--r1-every", dest="r1_every", type=int, help="lazy R1: every N-th D step, weighted N times")
    p.add_argument("--augment", help="DiffAugment policy applied to real and fake before D, e.g. color,translation,cutout")
    p.add_argument("--real-label", dest="real_label", type=float,
                   help="D's target for real images: 0.9 = one-sided label smoothing (BCE losses; default 1)")
    p.add_argument("--hist-avg-weight", dest="hist_avg_weight", type=float,
                   help="historical averaging: + w ||theta - mean of its past values||^2 for D and G (0 = off)")
    p.add_argument("--d-minibatch", dest="d_minibatch", choices=["discrimination", "stddev"],
                   help="a minibatch layer in D: Salimans et al.'s minibatch discrimination or ProGAN's minibatch stddev")
    p.add_argument("--g-norm", dest="g_norm", choices=["batch", "virtual"],
                   help="the DCGAN generator's normalisation: batch (default) or virtual batch normalisation")
    p.add_argument("--dataset", help="fashion-mnist (offline), mnist, cifar10, folder:PATH (your own PNG/JPEG images; "
                                     "one sub-folder per class for --conditional), or synthetic; translators: "
                                     "paired:PATH (pix2pix) or unpaired:PATH (cyclegan), folders PATH/A and PATH/B")
    p.add_argument("--image-size", dest="image_size", type=int,
                   help="28, 32 or 64 for the GANs; a power of two from 8 to 256 for the translators")
    p.add_argument("--channels", type=int, choices=[1, 3], help="folder:PATH (and synthetic) data: 1 grey, 3 RGB (default 3)")
    p.add_argument("--width", type=int, help="base channel width of G and D (default 64)")
    p.add_argument("--critic-norm", dest="critic_norm", choices=["batch", "layer", "none", "spectral"])
    p.add_argument("--conditional", nargs="?", const="projection", choices=["projection", "concat", "acgan"],
                   help="class-conditional G and D on the data's labels (class sub-folders for folder:PATH): projection "
                        "discriminator (the default), label concatenation, or AC-GAN (its own loss)")
    p.add_argument("--steps", type=int, help="generator steps")
    p.add_argument("--batch-size", dest="batch_size", type=int)
    p.add_argument("--ckpt-every", dest="ckpt_every", type=int,
                   help=f"checkpoint interval in steps (train's default: {DEFAULT_CKPT_EVERY})")
    p.add_argument("--sample-every", dest="sample_every", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="cuda, cuda:N, mps or cpu (default: the best available)")
    p.add_argument("--eval-every", dest="eval_every", type=int)
    p.add_argument("--n-eval", dest="n_eval", type=int, help="generated samples per evaluation (default 10000)")
    p.add_argument("--n-ref", dest="n_ref", type=int, help="reference (training) images (default: all)")
    p.add_argument("--features", choices=["inception", "classifier", "auto", "pixels"],
                   help="inception: FID (CIFAR-10 default); classifier: FD-classifier (Fashion-MNIST/MNIST "
                        "default); pixels: a cheap stand-in for the synthetic data")
    p.add_argument("--out", help="run folder (checkpoints, logs, sample grids)")
    p.add_argument("--sync-batchnorm", dest="sync_batchnorm", action="store_true", default=None,
                   help="under torchrun on GPUs: BatchNorm statistics over the global batch (SyncBatchNorm)")


OPTION_FLAGS = ("model", "loss", "dataset", "image_size", "width", "critic_norm", "steps", "batch_size",
                "ckpt_every", "sample_every", "seed", "device", "eval_every", "n_eval", "n_ref", "features",
                "lr_g", "lr_d", "r1_gamma", "r1_every", "augment", "sync_batchnorm", "channels", "conditional",
                "real_label", "hist_avg_weight", "d_minibatch", "g_norm",
                "style_mode", "mapping_layers", "w_dim", "style_mixing")


#: options of a translator run (gan_utils.config.TranslationConfig) that the train command takes
TRANSLATION_FLAGS = ("model", "dataset", "image_size", "channels", "width", "steps", "batch_size", "ckpt_every",
                     "sample_every", "seed", "device", "loss", "lr", "lambda_gan", "lambda_l1", "lambda_cycle",
                     "lambda_identity", "cycles", "pool_size", "n_layers", "norm")


def _add_translation_flags(p) -> None:
    """The options only a translator has (train --model pix2pix|cyclegan)."""
    g = p.add_argument_group("translators (--model pix2pix|cyclegan; defaults: the authors' code)")
    g.add_argument("--lr", type=float, help="Adam learning rate of every G and D (default 2e-4)")
    g.add_argument("--lambda-gan", dest="lambda_gan", type=float, help="weight of G's adversarial term (0: no D)")
    g.add_argument("--lambda-l1", dest="lambda_l1", type=float, help="pix2pix: weight of the L1 term (default 100)")
    g.add_argument("--lambda-cycle", dest="lambda_cycle", type=float, help="CycleGAN: weight of each cycle term (default 10)")
    g.add_argument("--lambda-identity", dest="lambda_identity", type=float,
                   help="CycleGAN: identity weight as a fraction of --lambda-cycle (default 0.5)")
    g.add_argument("--cycles", choices=["both", "forward"], help="CycleGAN: both cycles (default) or A->B->A only")
    g.add_argument("--pool-size", dest="pool_size", type=int, help="fakes D is trained on (default 50 CycleGAN, 0 pix2pix)")
    g.add_argument("--n-layers", dest="n_layers", type=int, help="PatchGAN depth: 1, 2, 3 -> 16, 34, 70 px patches (default 1)")
    g.add_argument("--norm", choices=["batch", "instance", "none"], help="normalisation of G and D (default batch)")


def _options(args) -> dict:
    return {k: getattr(args, k) for k in OPTION_FLAGS if getattr(args, k, None) is not None}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _listed(names) -> str:
    return ", ".join(_flag(k) for k in names)


def _train_translation(args) -> int:
    """``train --model pix2pix|cyclegan``: a translator trained by gan_utils.loop.run_loop."""
    from dataclasses import asdict

    from .checkpoint import LATEST, load_checkpoint
    from .config import load_translation_config
    from .experiment import write_json_atomic
    from .loop import run_loop
    from .runtime import UserError, ensure_writable_dir
    from .translation import build_translation

    foreign = [k for k in OPTION_FLAGS if k not in TRANSLATION_FLAGS and getattr(args, k, None) is not None]
    if foreign:
        raise UserError(f"{_listed(foreign)} {'does' if len(foreign) == 1 else 'do'} not apply to --model {args.model} "
                        f"(a translator); its options: {', '.join(_flag(k) for k in TRANSLATION_FLAGS)}")
    flags = {k: getattr(args, k, None) for k in TRANSLATION_FLAGS}
    cfg = load_translation_config(args.config, defaults={"ckpt_every": DEFAULT_CKPT_EVERY}, **flags)
    out = Path(args.out or f"runs/{cfg.model}").expanduser()
    ensure_writable_dir(out, "--out folder")
    _prepare_folder(args, out)
    task = build_translation(cfg)
    latest = out / LATEST
    if args.resume and latest.exists():              # refuse other settings before anything is written
        task.check_resumable(load_checkpoint(latest), latest)
    write_json_atomic(asdict(cfg), out / "run_config.json")
    r = run_loop(task, cfg.steps, out_dir=out, resume=bool(args.resume), log_every=cfg.log_every,
                 ckpt_every=cfg.ckpt_every, sample_every=cfg.sample_every, desc=f"train {cfg.model}")
    print(f"done: step {r.step}, {r.seconds:.1f} s this session; checkpoint {out / 'checkpoint_latest.pt'}")
    return 0


def _translate(args) -> int:
    from .runtime import UserError, get_device
    from .translation import translate_folder

    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size} must be at least 1")
    written = translate_folder(args.checkpoint, args.inputs, args.out, direction=args.direction,
                               device=get_device(args.device or "cpu"), batch_size=args.batch_size)
    print(f"wrote {len(written)} translated image(s) ({args.direction}) to {args.out}")
    return 0


def _run_folder(args, opts: dict) -> Path:
    from .distributed import on_main
    from .runtime import ensure_writable_dir

    name = opts["name"] if "name" in opts else "latest"          # load_config names a file run after it
    out = Path(args.out or f"runs/{name}").expanduser()
    on_main(ensure_writable_dir, out, "--out folder")            # torchrun: rank 0 alone touches the folder
    return out


def _prepare_folder(args, out: Path) -> None:
    """Refuse a folder that holds a run unless --resume or --overwrite; --overwrite empties it."""
    from .checkpoint import LATEST, load_checkpoint
    from .runtime import UserError

    latest = out / LATEST
    if latest.exists() and not (args.resume or args.overwrite):
        step = load_checkpoint(latest)["step"]
        raise UserError(f"{out} already holds a run (checkpoint at step {step}). Add --resume to continue it, "
                        "--overwrite to start it again from scratch, or choose another --out.")
    if args.overwrite:
        for pattern in RUN_FILES:
            for f in out.glob(pattern):
                f.unlink()


def _train(args) -> int:
    from .checkpoint import LATEST, check_resumable, load_checkpoint
    from .config import RunConfig, build_run, resolve
    from .distributed import is_main, main_lock, on_main, setup
    from .experiment import write_json_atomic
    from .runtime import seed_everything
    from .train import train

    from .config import TRANSLATION_MODELS

    if args.model in TRANSLATION_MODELS:             # an image-to-image translator (notebook 11)
        return _train_translation(args)
    given = [k for k in TRANSLATION_FLAGS if k not in OPTION_FLAGS and getattr(args, k, None) is not None]
    if given:
        from .runtime import UserError

        raise UserError(f"{_listed(given)} {'applies' if len(given) == 1 else 'apply'} to translators only: add "
                        "--model pix2pix or --model cyclegan (the GANs take --lr-g and --lr-d)")
    if args.eval_every is not None:                 # train --eval-every N: the run driver
        return _run(args)
    opts = resolve(args.config or {}, overrides=_options(args))
    opts.setdefault("ckpt_every", DEFAULT_CKPT_EVERY)
    rc = RunConfig.from_options(opts)
    setup(rc.device)                                 # torchrun: join the process group (no-op otherwise)
    out = _run_folder(args, opts)
    latest = out / LATEST
    with main_lock(out):                             # torchrun: rank 0 alone locks and writes; its errors reach all
        on_main(_prepare_folder, args, out)
        seed_everything(rc.train.seed)               # the same models on every rank
        G, D, loader, cfg = build_run(rc)
        if args.resume:                              # refuse other settings before anything is written
            on_main(lambda: latest.exists() and check_resumable(load_checkpoint(latest), G, D, cfg, loader, latest))
        on_main(write_json_atomic, {k: v for k, v in opts.items() if k != "device"}, out / "run_config.json")
        r = train(G, D, loader, cfg, out_dir=out, resume=bool(args.resume))
    if is_main():
        print(f"done: step {cfg.steps}, {r.seconds:.1f} s this session; checkpoint {latest}")
    return 0


def _run(args) -> int:
    """``run`` and ``train --eval-every``: the experiment driver of notebook 08."""
    from .config import RunConfig, resolve
    from .distributed import is_main, setup
    from .experiment import run_experiment

    overrides = _options(args)
    opts = resolve(args.config or {}, smoke=bool(getattr(args, "smoke", False)), overrides=overrides)
    setup(RunConfig.from_options(opts).device)       # torchrun: join the process group (no-op otherwise)
    out = _run_folder(args, opts)
    r = run_experiment(args.config or {}, out, smoke=bool(getattr(args, "smoke", False)), overrides=overrides)
    if not is_main():                                # torchrun: rank 0 reports
        return 0
    b = r.best
    print(f"done: {r.summary()}")
    if b is not None:
        print(f"best generator: {out / 'best.pt'} (step {b['step']}); log: {out / 'eval.json'}; "
              f"training time {r.train_seconds / 60:.1f} min over all sessions, this call {r.seconds / 60:.1f} min")
    return 0


def _sample(args) -> int:
    from .checkpoint import load_generator
    from .models import MIN_TRUNCATION
    from .runtime import UserError, atomic_write, available_memory, check_seed, ensure_writable_dir, get_device
    from .train import sample

    import torch

    if args.n < 1:
        raise UserError(f"--n {args.n}: ask for at least one sample")
    check_seed(args.seed, "--seed")
    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size} must be at least 1")
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as {out / 'samples.pt'}")
    ensure_writable_dir(out.parent if str(out.parent) else ".", "folder of --out")
    G = load_generator(args.checkpoint, ema=not args.raw, device=get_device(args.device or "cpu"))
    k = getattr(G, "num_classes", None)
    if args.classes is not None:                 # --class K [K ...]: a class-conditional generator only
        if k is None:
            raise UserError(f"--class: the generator in {args.checkpoint} is unconditional (trained without "
                            "--conditional), so it takes no class; leave --class out")
        bad = [c for c in args.classes if not 0 <= c < k]
        if bad:
            raise UserError(f"--class {bad[0]} is out of range: this generator has {k} classes, 0..{k - 1}")
    in_w = getattr(G, "truncation_space", "z") == "w"      # the style generator (notebook 12): psi in W
    if args.truncation is not None and in_w and not math.isfinite(args.truncation):
        raise UserError(f"--truncation {args.truncation}: for this style generator it is psi in W, a number such as "
                        "0.7 (1 = no truncation, 0 = the average image)")
    if args.truncation is not None and not in_w and not args.truncation >= MIN_TRUNCATION:
        raise UserError(f"--truncation {args.truncation} must be at least {MIN_TRUNCATION} (leave it out for no "
                        "truncation): below that, redrawing the codes outside [-T, T] almost never ends")
    with torch.no_grad():
        shape = tuple(sample(G, 1, y=args.classes).shape[1:])
    need = args.n * int(torch.tensor(shape).prod()) * 4
    free = available_memory()
    if free is not None and 2 * need > free:   # the samples, plus their copy while saving
        raise UserError(f"{args.n} samples of shape {shape} need {need / 2**30:.1f} GiB in float32 (twice that while "
                        f"saving), and {free / 2**30:.1f} GiB are free: ask for fewer (--n) and write several files.")
    x = sample(G, args.n, seed=args.seed, batch_size=args.batch_size, progress=args.n > args.batch_size,
               y=args.classes, truncation=args.truncation)
    x = x.clamp_(-1, 1)
    atomic_write(out, lambda f: torch.save(x, f))
    print(f"wrote {tuple(x.shape)} samples in [-1, 1] to {out}")
    if k is not None:                            # a conditional generator: which class each sample is
        from .models import sample_labels

        labels_out = out.with_name(out.stem + ".labels.pt")
        labels = sample_labels(G, args.classes, args.n)
        atomic_write(labels_out, lambda f: torch.save(labels, f))
        print(f"wrote their classes ({args.n},) to {labels_out}")
    return 0


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m gan_utils", description="Train and sample the course's GANs and "
                                 "image-to-image translators.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a GAN, writing checkpoints, history.json and sample grids")
    _add_option_flags(t, config_required=False)
    again = t.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run in OUT (same settings)")
    again.add_argument("--overwrite", action="store_true", help="delete the run in OUT and start again")
    _add_translation_flags(t)
    t.set_defaults(func=_train)
    r = sub.add_parser("run", help="train with periodic FID evaluation, best generator and automatic resume "
                                   "(notebook 08's driver)")
    _add_option_flags(r, config_required=True)
    r.add_argument("--smoke", action="store_true", help="tiny sizes: checks the whole path in seconds on a CPU")
    r.set_defaults(func=_run)
    s = sub.add_parser("sample", help="write N samples (N, C, H, W) in [-1, 1] from a checkpoint's EMA generator")
    s.add_argument("--checkpoint", required=True, help="checkpoint_latest.pt, best.pt, or a run folder")
    s.add_argument("--n", type=int, default=1000)
    s.add_argument("--out", required=True, help="output .pt file")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--batch-size", dest="batch_size", type=int, default=500, help="samples per forward pass")
    s.add_argument("--raw", action="store_true", help="use the raw generator instead of the EMA one")
    s.add_argument("--class", dest="classes", type=int, nargs="+", metavar="K",
                   help="class-conditional checkpoints: the class(es) to make, taken in turn (default: every class in turn)")
    s.add_argument("--truncation", type=float,
                   help="the truncation trick: z coordinates beyond +-T are drawn again; for a style generator "
                        "(--model style) psi in W instead, w = w_avg + psi (w - w_avg) (1 = none, 0 = the average image)")
    s.add_argument("--device", help="cpu (default), cuda or mps")
    s.set_defaults(func=_sample)
    tr = sub.add_parser("translate", help="translate a folder of images with a pix2pix or CycleGAN checkpoint "
                                          "(one PNG per image, same names)")
    tr.add_argument("--checkpoint", required=True, help="checkpoint_latest.pt of a translator, or its run folder")
    tr.add_argument("--in", dest="inputs", required=True, help="folder of PNG/JPEG images (sub-folders too)")
    tr.add_argument("--out", required=True, help="folder for the translations (created; not the input folder)")
    tr.add_argument("--direction", choices=["AtoB", "BtoA"], default="AtoB",
                    help="AtoB (default; pix2pix has only this) or BtoA (CycleGAN's second generator)")
    tr.add_argument("--batch-size", dest="batch_size", type=int, default=256)
    tr.add_argument("--device", help="cpu (default), cuda or mps")
    tr.set_defaults(func=_translate)
    return ap


#: how long a rank other than 0 waits before it exits on a user error (torchrun), so that rank 0 prints it first
OTHER_RANKS_WAIT_S = 10.0


def _rank0(is_main) -> bool:
    """Whether this process prints a user error: rank 0 under torchrun (a garbled RANK: yes)."""
    from .runtime import UserError

    try:
        return is_main()
    except UserError:
        return True


def main(argv=None) -> int:
    from .distributed import RankZeroError, is_main, shutdown, world_size
    from .runtime import UserError
    from .train import TrainingInterrupted

    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:                      # a user can fix it: one clear message, no traceback
        if _rank0(is_main) and not isinstance(e, RankZeroError):   # torchrun: rank 0 alone prints it; all exit 2
            print(f"error: {e}", file=sys.stderr, flush=True)
        elif world_size() > 1:
            # torchrun stops every worker as soon as one exits: a rank that returned at once could have rank 0
            # killed before it printed the message. Rank 0's exit ends this wait (torchrun's SIGTERM).
            time.sleep(OTHER_RANKS_WAIT_S)
        return 2
    except TrainingInterrupted as e:
        if not is_main():
            return 130
        again = [a for a in argv if a != "--overwrite"]
        if args.cmd == "train" and "--resume" not in again:
            again.append("--resume")
        n = world_size()
        launcher = f"torchrun --nproc_per_node={n}" if n > 1 else "python"   # any number of processes resumes it
        print(f"interrupted after step {e.step}; checkpoint saved at {e.checkpoint}. Resume with: "
              f"{launcher} -m gan_utils {shlex.join(again)}" if e.checkpoint else f"interrupted after step {e.step}",
              file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted (nothing was being trained, or a second Ctrl-C: the last checkpoint is kept)",
              file=sys.stderr)
        return 130
    finally:
        shutdown()                              # torchrun: leave the process group


if __name__ == "__main__":
    sys.exit(main())
