"""The per-GPU time estimates of notebook 08 and the README come from docs/gpu_estimates.json,
which benchmarks/estimate_gpu_time.py writes from counted work; guards against a table typed by
hand, or one left behind when a config's length changes."""
import importlib.util
import json
import re
from pathlib import Path

from gan_utils.config import load_config

ROOT = Path(__file__).resolve().parents[1]
EST = json.loads((ROOT / "docs" / "gpu_estimates.json").read_text())


def _estimator():
    spec = importlib.util.spec_from_file_location("estimate_gpu_time", ROOT / "benchmarks" / "estimate_gpu_time.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_readme_table_is_the_generated_one():
    assert _estimator().table(EST) in (ROOT / "README.md").read_text(), \
        "README's GPU table differs from docs/gpu_estimates.json: python benchmarks/estimate_gpu_time.py --write-readme"


def test_the_estimates_were_made_for_the_shipped_configs():
    est = _estimator()
    for runs in est.RUNS.values():
        for name in runs.values():
            cfg, counted = load_config(name), EST["per_step"][name]
            for key in ("steps", "batch_size", "width", "eval_every", "n_eval"):
                assert counted[key] == cfg[key], f"{name}.{key} changed since the estimate: rerun the estimator"


def test_the_default_run_is_estimated_to_fit_one_free_colab_session():
    # the promise of notebook 08's default: both runs, evaluations included, in about an hour of a T4
    assert EST["minutes"]["T4 (Colab free)"]["colab"]["minutes_slow"] <= 60
    assert EST["minutes"]["T4 (Colab free)"]["paper"]["minutes_fast"] > 60    # why "paper" is an opt-in


def _epochs(name, n_images=50_000):
    """Passes over CIFAR-10's training images: G steps x batch (x n_critic: the critic's data)."""
    c = load_config(name)
    return round(c["steps"] * c["batch_size"] * c.get("n_critic", 1) / n_images)


def test_notebook_08_states_the_run_lengths_of_the_configs():
    # guards against the old drift: prose saying "2 x 10 000 steps" while the configs said 60 000 / 100 000
    nb = json.loads((ROOT / "notebooks" / "08_full_training.ipynb").read_text())
    text = re.sub(r"\s+", " ", " ".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"))
    fmt = lambda n: f"{n:,}".replace(",", " ")  # noqa: E731  (the notebook writes 20 000)
    d, w, s = load_config("dcgan_cifar10"), load_config("wgan_gp_cifar10"), load_config("sngan_cifar10")
    dp, wp, sp = (load_config(f"{n}_cifar10_paper") for n in ("dcgan", "wgan_gp", "sngan"))
    assert f"{fmt(d['steps'])} DCGAN steps and {fmt(w['steps'])} WGAN-GP steps" in text
    assert f"then {fmt(s['steps'])} SN-GAN steps" in text
    assert f"{fmt(d['steps'])} DCGAN steps of batch {d['batch_size']} ({_epochs('dcgan_cifar10')} epochs)" in text
    assert f"{fmt(w['steps'])} WGAN-GP steps of batch {w['batch_size']} ({_epochs('wgan_gp_cifar10')} epochs of critic data)" in text
    assert f"{fmt(s['steps'])} SN-GAN steps of batch {s['batch_size']} ({_epochs('sngan_cifar10')} epochs)" in text
    assert f"{fmt(dp['steps'])} and {fmt(wp['steps'])}, and {fmt(sp['steps'])} for SN-GAN" in text
    assert f"{fmt(dp['steps'])} DCGAN steps and {fmt(wp['steps'])} WGAN-GP and SN-GAN steps" in text
    assert wp["steps"] == sp["steps"]


def test_the_third_run_is_notebook_10s_modern_recipe_at_gpu_scale():
    # guards against: a "modern recipe" config that silently is another recipe (BatchNorm or no constraint in D,
    # another loss, no EMA generator), while notebook 08 compares it with the SN-GANs row of Miyato et al. 2018
    from gan_utils.config import RunConfig

    for name in ("sngan_cifar10", "sngan_cifar10_paper", "sngan_fmnist"):
        c = load_config(name)
        rc = RunConfig.from_options({**c, "dataset": "synthetic", "channels": 1, "device": "cpu"})
        assert (rc.train.loss, rc.norm, rc.train.n_critic) == ("hinge", "spectral", 1), name
        assert rc.train.ema_decay > 0 and rc.train.batch_size == 64, name
