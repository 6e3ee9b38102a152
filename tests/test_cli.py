"""The CLI: train writes checkpoint/history/grids and resumes; sample writes (N, C, H, W) in [-1, 1]; the style
generator of notebook 12 (train --model style, sample --truncation in W)."""
import json
import subprocess
import sys

import pytest
import torch
from PIL import Image

from gan_utils.checkpoint import load_checkpoint
from gan_utils.cli import main


def test_train_then_resume_then_sample(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--model", "dcgan", "--loss", "bce-ns", "--dataset", "synthetic", "--image-size", "32",
            "--width", "8", "--batch-size", "16", "--steps", "4", "--out", str(out), "--seed", "1"]
    assert main(args) == 0
    assert (out / "checkpoint_latest.pt").exists() and (out / "samples_000004.png").exists()
    hist = json.loads((out / "history.json").read_text())
    assert hist["step"] == [1, 2, 3, 4]
    # resume to 6 steps: history continues, no restart from step 1
    assert main(args[:-4] + ["--steps", "6", "--out", str(out), "--resume", "--seed", "1"]) == 0
    assert json.loads((out / "history.json").read_text())["step"] == [1, 2, 3, 4, 5, 6]
    samples = tmp_path / "s.pt"
    assert main(["sample", "--checkpoint", str(out / "checkpoint_latest.pt"), "--n", "7", "--out", str(samples)]) == 0
    x = torch.load(samples, weights_only=True)
    assert x.shape == (7, 3, 32, 32) and x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1


def test_config_file_and_flag_override(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"model": "dcgan", "loss": "wgan-gp", "dataset": "synthetic", "image_size": 32,
                               "width": 8, "batch_size": 8, "steps": 50}))
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--steps", "2", "--out", str(out)]) == 0
    ck = torch.load(out / "checkpoint_latest.pt", weights_only=True)
    assert ck["step"] == 2 and ck["config"]["loss"] == "wgan-gp" and ck["config"]["n_critic"] == 5
    assert ck["model_config"]["D"]["norm"] == "layer", "a GP critic must not have BatchNorm"


def test_wgan_sn_from_the_cli_gets_a_spectrally_normalised_critic(tmp_path):
    # guards against: --loss wgan-sn training an unconstrained critic (BatchNorm default)
    out = tmp_path / "run"
    assert main(["train", "--model", "dcgan", "--loss", "wgan-sn", "--dataset", "synthetic", "--image-size", "32",
                 "--width", "8", "--batch-size", "8", "--steps", "2", "--out", str(out)]) == 0
    ck = torch.load(out / "checkpoint_latest.pt", weights_only=True)
    assert ck["config"]["loss"] == "wgan-sn" and ck["config"]["n_critic"] == 5 and ck["config"]["lr_d"] == 1e-4
    assert ck["model_config"]["D"]["norm"] == "spectral"


def test_user_errors_exit_2_with_one_message(tmp_path, capsys):
    assert main(["train", "--dataset", "imagenet", "--steps", "1", "--out", str(tmp_path)]) == 2
    assert "Valid names" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x.pt")]) == 2


def test_python_dash_m_entry_point():
    r = subprocess.run([sys.executable, "-m", "gan_utils", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "train" in r.stdout and "sample" in r.stdout


TINY = {"model": "dcgan", "loss": "bce-ns", "dataset": "synthetic", "image_size": 32, "width": 8,
        "batch_size": 16, "steps": 6, "eval_every": 2, "n_eval": 64, "n_ref": 128, "log_every": 1,
        "sample_every": 0, "ckpt_every": 0, "features": "pixels", "seed": 3}


def _evals(out):
    return json.loads((out / "eval.json").read_text())["evals"]


def test_cli_run_and_train_eval_every(tmp_path, capsys):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "r"), "--steps", "4"]) == 0
    assert [e["step"] for e in _evals(tmp_path / "r")] == [2, 4]
    assert "FD-pixels" in capsys.readouterr().out
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "t"), "--eval-every", "3"]) == 0
    assert [e["step"] for e in _evals(tmp_path / "t")] == [3, 6]
    assert (tmp_path / "t" / "best.pt").exists()


def test_cli_run_with_a_shipped_config_on_synthetic_data_in_smoke_mode(tmp_path):
    # the CIFAR-10 path (3-channel 32x32 models, wgan-gp) where CIFAR-10 cannot be downloaded
    out = tmp_path / "w"
    assert main(["run", "--config", "wgan_gp_cifar10", "--dataset", "synthetic",   # -> pixel features
                 "--smoke", "--out", str(out), "--steps", "4", "--eval-every", "2"]) == 0
    ck = load_checkpoint(out / "best.pt")
    assert ck["model_config"]["G"]["channels"] == 3 and "D" not in ck and "opt_D" not in ck  # what sampling needs
    assert load_checkpoint(out / "checkpoint_latest.pt")["model_config"]["D"]["norm"] == "layer"
    assert [e["step"] for e in _evals(out)] == [2, 4]


def test_cifar10_offline_and_inception_offline_are_clear_errors(tmp_path, capsys):
    # guards against: a traceback (or a silent switch to another metric) where the fix is a download
    from gan_utils.metrics.features import inception_weights_path

    assert main(["run", "--config", "dcgan_cifar10", "--out", str(tmp_path / "c"), "--smoke"]) == 2
    assert "cifar10" in capsys.readouterr().err
    if inception_weights_path() is None:
        assert main(["run", "--config", "dcgan_cifar10", "--dataset", "synthetic", "--features", "inception",
                     "--smoke", "--out", str(tmp_path / "i")]) == 2
        assert "Inception" in capsys.readouterr().err


# ---------------------------------------------------------------- notebook 14's flags (Salimans et al. 2016)
def test_salimans_flags_reach_the_models_and_the_loop_and_resume(tmp_path, capsys):
    # guards against: a flag parsed and then dropped on the way to TrainConfig or the models' constructors
    out = tmp_path / "run"
    args = ["train", "--dataset", "synthetic", "--channels", "1", "--width", "8", "--batch-size", "16", "--steps", "3",
            "--loss", "feature-matching", "--real-label", "0.9", "--hist-avg-weight", "0.01",
            "--d-minibatch", "discrimination", "--g-norm", "virtual", "--out", str(out)]
    assert main(args) == 0
    ck = load_checkpoint(out)
    assert (ck["config"]["loss"], ck["config"]["real_label"], ck["config"]["hist_avg_weight"]) == ("feature-matching", 0.9, 0.01)
    assert ck["model_config"]["D"]["minibatch"] == "discrimination" and ck["model_config"]["G"]["norm"] == "virtual"
    assert ck["hist_avg"]["G"]["t"] == 3 and "ref_z" in ck["G"]
    assert main(args[:args.index("--steps") + 1] + ["5"] + args[args.index("--steps") + 2:] + ["--resume"]) == 0
    assert load_checkpoint(out)["hist_avg"]["D"]["t"] == 5
    assert main(["sample", "--checkpoint", str(out), "--n", "3", "--out", str(tmp_path / "s.pt")]) == 0
    capsys.readouterr()
    assert main(["train", "--dataset", "synthetic", "--loss", "hinge", "--real-label", "0.9", "--out", str(tmp_path / "x")]) == 2
    assert "real_label" in capsys.readouterr().err


# ---------------------------------------------------------------- the style generator of notebook 12
STYLE_ARGS = ["--model", "style", "--dataset", "synthetic", "--channels", "1", "--image-size", "32", "--width", "4",
              "--batch-size", "8", "--mapping-layers", "2", "--r1-gamma", "1", "--r1-every", "2", "--seed", "2"]


def test_cli_trains_the_style_model_resumes_bit_exactly_and_samples_with_truncation_in_w(tmp_path):
    # guards against: a style run that cannot resume exactly (noise, style mixing or the set-up check drawing from
    # a random stream the checkpoint does not restore; w_avg not saved), and sample --truncation drawing truncated z
    from gan_utils.checkpoint import load_generator

    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["train", *STYLE_ARGS, "--steps", "6", "--out", str(full)]) == 0
    assert main(["train", *STYLE_ARGS, "--steps", "3", "--out", str(part)]) == 0
    assert main(["train", *STYLE_ARGS, "--steps", "6", "--out", str(part), "--resume"]) == 0
    a, b = load_checkpoint(full), load_checkpoint(part)
    assert a["model_config"]["G"]["kind"] == "StyleGenerator" and a["model_config"]["D"]["kind"] == "StyleDiscriminator"
    for key in ("G", "D", "G_ema", "opt_G", "opt_D"):
        sa, sb = a[key], b[key]
        if key.startswith("opt"):
            sa, sb = {i: s for i, s in enumerate(sa["state"].values())}, {i: s for i, s in enumerate(sb["state"].values())}
            assert all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa)
        else:
            assert all(torch.equal(sa[k], sb[k]) for k in sa), key
    assert float(a["G"]["w_avg"].abs().sum()) > 0                                 # tracked during training
    assert a["history"]["loss_D"] == b["history"]["loss_D"]
    out0, out1 = tmp_path / "s0.pt", tmp_path / "s1.pt"
    assert main(["sample", "--checkpoint", str(full), "--n", "5", "--out", str(out0), "--truncation", "0"]) == 0
    assert main(["sample", "--checkpoint", str(full), "--n", "5", "--out", str(out1)]) == 0
    x0, x1 = torch.load(out0, weights_only=True), torch.load(out1, weights_only=True)
    G = load_generator(full)
    avg = G.synthesis(G.broadcast(G.w_avg[None]), noise_mode="none").clamp(-1, 1)   # the image of w_avg
    assert x0.shape == (5, 1, 32, 32)
    # psi = 0 in W: every sample is w_avg's image, up to the (trained, small) noise inputs
    assert float((x0 - avg).abs().mean()) < 0.1 * float((x1 - avg).abs().mean())


def test_style_options_are_checked_and_refused_with_other_models(capsys):
    from gan_utils.config import ConfigError, RunConfig, effective_options

    with pytest.raises(ConfigError, match="style_mixing.*model 'style'"):
        RunConfig.from_options({"model": "dcgan", "style_mixing": 0.5})
    with pytest.raises(ConfigError, match="32 or 64"):
        RunConfig.from_options({"model": "style", "image_size": 28})
    with pytest.raises(ConfigError, match="probability"):
        RunConfig.from_options({"model": "style", "style_mixing": 1.5})
    with pytest.raises(ConfigError, match="no normalisation"):
        RunConfig.from_options({"model": "style", "critic_norm": "batch"})
    with pytest.raises(ConfigError, match="spectrally"):
        RunConfig.from_options({"model": "style", "loss": "wgan-sn"})
    assert effective_options({"model": "dcgan"})["style_mode"] is None
    eff = effective_options({"model": "style"})
    assert eff["w_dim"] == eff["latent_dim"] and eff["critic_norm"] == "none"
    assert main(["train", "--model", "dcgan", "--style-mode", "adain", "--steps", "1", "--out", "/tmp/never"]) == 2
    assert "model 'style'" in capsys.readouterr().err


def test_cli_run_driver_evaluates_a_style_generator_with_the_shipped_config(tmp_path):
    # guards against: the evaluation driver (notebook 08's) assuming a DCGAN: EMA BatchNorm handling, best.pt, sampling
    out = tmp_path / "style"
    assert main(["run", "--config", "style_fmnist", "--dataset", "synthetic", "--channels", "1", "--smoke",
                 "--out", str(out), "--steps", "4", "--eval-every", "2"]) == 0
    best = load_checkpoint(out / "best.pt")
    assert best["model_config"]["G"]["kind"] == "StyleGenerator" and best["G_ema"]["w_avg"].shape == (100,)
    assert [e["step"] for e in _evals(out)] == [2, 4]


# ---------------------------------------------------------------- translators (notebook 11)
from test_translation import _pairs, _write  # noqa: E402  (the folder helpers of the translation tests)
def test_cli_train_and_translate_end_to_end(tmp_path, capsys):
    root = _pairs(tmp_path / "pairs", n=8, size=16)
    out = tmp_path / "run"
    args = ["train", "--model", "pix2pix", "--dataset", f"paired:{root}", "--image-size", "16", "--channels", "1",
            "--width", "4", "--batch-size", "4", "--steps", "3", "--out", str(out)]
    assert main(args) == 0
    ck = load_checkpoint(out)
    assert ck["kind"] == "pix2pix" and ck["step"] == 3 and ck["config"]["lambda_l1"] == 100.0
    assert json.loads((out / "run_config.json").read_text())["model"] == "pix2pix"
    assert main(args[:-4] + ["--steps", "5", "--out", str(out), "--resume"]) == 0
    assert json.loads((out / "history.json").read_text())["step"] == [1, 2, 3, 4, 5]
    _write(root / "A" / "extra.jpg", 99, 20)                             # another size, another suffix
    dst = tmp_path / "translated"
    assert main(["translate", "--checkpoint", str(out), "--in", str(root / "A"), "--out", str(dst)]) == 0
    written = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*.png"))
    assert written == [f"{i:02d}.png" for i in range(8)] + ["extra.png"]
    assert all(Image.open(dst / w).size == (16, 16) and Image.open(dst / w).mode == "L" for w in written)
    cg = tmp_path / "cg"
    assert main(["train", "--model", "cyclegan", "--dataset", f"unpaired:{root}", "--image-size", "16", "--channels",
                 "1", "--width", "4", "--batch-size", "4", "--steps", "2", "--out", str(cg)]) == 0
    assert main(["translate", "--checkpoint", str(cg), "--in", str(root / "B"), "--out", str(tmp_path / "back"),
                 "--direction", "BtoA"]) == 0
    assert len(list((tmp_path / "back").glob("*.png"))) == 8
    nested = tmp_path / "nested"
    for c in ("x", "y"):
        _write(nested / c / "1.png", 7, 16)
    assert main(["translate", "--checkpoint", str(out), "--in", str(nested), "--out", str(tmp_path / "n")]) == 0
    assert sorted(p.relative_to(tmp_path / "n").as_posix() for p in (tmp_path / "n").rglob("*.png")) == ["x/1.png", "y/1.png"]


TRANSLATE = ["translate", "--checkpoint", "{run}", "--in", "{root}/A", "--out", "{tmp}/o"]
TRAIN = ["--image-size", "16", "--channels", "1", "--steps", "1", "--out", "{tmp}/new"]


@pytest.mark.parametrize("argv, needle", [
    (TRANSLATE + ["--direction", "BtoA"], "translates A to B only"),
    (["translate", "--checkpoint", "{run}", "--in", "{root}/nothing", "--out", "{tmp}/o"], "does not exist"),
    (["translate", "--checkpoint", "{run}", "--in", "{root}/A", "--out", "{root}/A"], "is the input folder"),
    (["translate", "--checkpoint", "{tmp}", "--in", "{root}/A", "--out", "{tmp}/o"], "No checkpoint"),
    (["train", "--model", "pix2pix", "--dataset", "paired:{root}", "--lr-g", "0.1"] + TRAIN,
     "--lr-g does not apply to --model pix2pix"),
    (["train", "--model", "pix2pix", "--dataset", "unpaired:{root}"] + TRAIN, "pix2pix learns from pairs"),
    (["train", "--model", "dcgan", "--lambda-l1", "3"] + TRAIN, "--lambda-l1 applies to translators only"),
    (["train", "--model", "cyclegan", "--dataset", "unpaired:{root}/A"] + TRAIN, "has no A/ and no B/ sub-folder"),
    (["train", "--model", "cyclegan", "--dataset", "unpaired:{root}", "--image-size", "24", "--out", "{tmp}/n"],
     "power of two"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, needle):
    # guards against: a traceback where a user made a mistake
    root = _pairs(tmp_path / "pairs", n=4, size=16)
    run = tmp_path / "run"
    assert main(["train", "--model", "pix2pix", "--dataset", f"paired:{root}", "--image-size", "16", "--channels", "1",
                 "--width", "4", "--batch-size", "4", "--steps", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    code = main([a.format(run=run, root=root, tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert needle in err, err
