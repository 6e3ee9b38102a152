"""Run options (gan_utils.config): the shipped configs, the one loader with key and type checks."""
from pathlib import Path

import pytest
import torch

from gan_utils.config import (ConfigError, RunConfig, build_run, config_dir, effective_options, find_config,
                              load_config, resolve)
from gan_utils.models import has_batchnorm

ROOT = Path(__file__).resolve().parents[1]
TINY = {"model": "dcgan", "loss": "bce-ns", "dataset": "synthetic", "image_size": 32, "width": 8,
        "batch_size": 16, "steps": 6, "eval_every": 2, "n_eval": 64, "n_ref": 128, "log_every": 1,
        "sample_every": 0, "ckpt_every": 0, "features": "pixels", "seed": 3}


# ---------------------------------------------------------------- the configs
CONFIGS = sorted(config_dir().glob("*.json"))


def test_the_run_configs_exist():
    names = {p.stem for p in CONFIGS}
    assert {"dcgan_cifar10", "wgan_gp_cifar10", "dcgan_fmnist", "wgan_gp_fmnist", "dcgan_cifar10_paper",
            "wgan_gp_cifar10_paper", "style_fmnist"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_parses_and_builds_the_right_models(path):
    opts = load_config(path)   # unknown keys (typos) raise
    assert opts["image_size"] == 32 and opts["eval_every"] > 0 and opts["steps"] % opts["eval_every"] == 0
    channels = 3 if opts["dataset"] == "cifar10" else 1
    G, D, loader, cfg = build_run({**opts, "dataset": "synthetic", "channels": channels, "device": "cpu"})
    x = G(torch.randn(2, cfg.latent_dim))
    assert x.shape == (2, channels, 32, 32) and D(x).shape == (2,)
    assert cfg.steps == opts["steps"] and cfg.loss == opts["loss"]
    if opts["model"] == "style":
        # notebook 12's style generator: StyleGAN2's Adam and lazy R1, no BatchNorm anywhere
        assert not has_batchnorm(D) and not has_batchnorm(G) and type(G).__name__ == "StyleGenerator"
        assert cfg.betas_g == cfg.betas_d == (0.0, 0.99) and cfg.r1_gamma > 0 and cfg.r1_every == 16
    elif opts["loss"] == "wgan-gp":
        # guards against: a BatchNorm critic, which makes the per-sample gradient penalty wrong
        assert not has_batchnorm(D)
        assert cfg.n_critic == 5 and cfg.lr_g == cfg.lr_d == 1e-4 and cfg.betas_d == (0.0, 0.9)
    elif opts["loss"] == "hinge":
        # guards against: notebook 08's modern recipe with BatchNorm (or no constraint) in D instead of spectral norm
        assert not has_batchnorm(D) and opts["critic_norm"] == "spectral" and cfg.n_critic == 1
        assert any(hasattr(m, "parametrizations") or hasattr(m, "weight_orig") for m in D.modules())
    else:
        assert has_batchnorm(D) and cfg.betas_g == (0.5, 0.999)
    if opts["dataset"] == "cifar10":
        assert opts["features"] == "inception" and opts["n_eval"] == 10_000 and opts["width"] >= 128
        if path.stem.endswith("_paper"):      # the opt-in: the long runs (lengths of the course's choice)
            assert 50_000 <= opts["steps"] <= 100_000
        else:                                 # notebook 08's default: one free Colab session (tests/test_gpu_estimates.py)
            assert opts["steps"] <= 20_000


def test_unknown_config_key_is_an_error():
    with pytest.raises(ConfigError, match="unknown option.*'lr'.*did you mean"):
        load_config({**TINY, "lr": 1e-3})


def test_notebook_08_reads_the_same_config_files():
    src = (ROOT / "notebooks" / "08_full_training.ipynb").read_text()
    for name in ("dcgan_cifar10", "wgan_gp_cifar10", "sngan_cifar10", "dcgan_fmnist", "wgan_gp_fmnist", "sngan_fmnist"):
        assert name in src




@pytest.mark.parametrize("bad,match", [
    ({"steps": "2"}, "steps must be a whole number"),          # a string where JSON should have a number
    ({"lr_g": True}, "lr_g must be a number"),
    ({"betas_g": [0.5]}, "betas_g must be a pair"),
    ({"fast": "false"}, "fast must be true or false"),         # "false" is a true-looking string
    ({"resume": False}, "unknown option"),                     # resume is a command-line choice, not a setting
    ({"loss": "wgan"}, "Unknown loss"),
    ({"width": 0}, "width=0 must be at least 1"),
    ({"batch_size": 0}, "batch_size=0 must be"),
    ({"image_size": 1000}, "image_size=1000"),
])
def test_one_loader_refuses_unknown_keys_wrong_types_and_bad_values(bad, match):
    # guards against: `train --config` silently ignoring "lr", crashing on "steps": "2", resuming on "false"
    with pytest.raises(ConfigError, match=match):
        resolve({**TINY, **bad})


def test_a_config_that_is_not_an_object_or_not_json_is_refused(tmp_path):
    lst = tmp_path / "list.json"
    lst.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must be a JSON object"):
        load_config(lst)
    broken = tmp_path / "broken.json"
    broken.write_text('{"steps": 2,')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(broken)


def test_json_types_are_converted_where_json_cannot_say_them():
    opts = load_config({"betas_g": [0.0, 0.9], "lr_g": 1, "steps": 2.0})
    assert opts["betas_g"] == (0.0, 0.9) and isinstance(opts["lr_g"], float) and opts["steps"] == 2


def test_shipped_configs_are_found_by_name_and_by_their_old_path():
    # guards against: a Colab install (package only, no repository) that cannot find the configs
    assert find_config("dcgan_fmnist") == config_dir() / "dcgan_fmnist.json"
    assert find_config("configs/wgan_gp_cifar10.json") == config_dir() / "wgan_gp_cifar10.json"
    assert config_dir().parent.name == "gan_utils"
    with pytest.raises(ConfigError, match="shipped configs are"):
        find_config("no_such_config")


def test_every_default_lives_once_in_RunConfig():
    # guards against: the same default repeated as opts.get(...) in the CLI and the experiment driver
    eff = effective_options({})
    rc = RunConfig()
    assert eff["n_eval"] == rc.n_eval and eff["eval_seed"] == rc.eval_seed and eff["width"] == rc.width
    assert eff["dataset"] == rc.dataset and eff["loss"] == rc.train.loss
    assert effective_options({"loss": "wgan-gp"})["critic_norm"] == "layer"
    assert effective_options({"loss": "wgan-sn"})["critic_norm"] == "spectral"
    assert effective_options({"loss": "bce-ns"})["gp_weight"] is None
    src = (Path(__file__).resolve().parents[1] / "gan_utils" / "cli.py").read_text()
    assert "opts.get(" not in src


def test_a_minibatch_layer_is_refused_for_a_discriminator_that_would_ignore_it():
    # guards against: model='style' with d_minibatch (notebook 14's option) training without the layer asked for
    with pytest.raises(ConfigError, match="d_minibatch='discrimination'.*style"):
        RunConfig(model="style", dataset="synthetic", d_minibatch="discrimination")
    RunConfig(model="dcgan", dataset="synthetic", d_minibatch="discrimination")     # where it is built: accepted
