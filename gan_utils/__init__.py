"""gan_utils: the tested helper package behind the GAN course notebooks.

Each module's docstring names the notebook that teaches its idea. The library:

- ``runtime``    device, seeding, smoke switch; UserError, env_flag, cache_dir, atomic_write (00_setup)
- ``data``       Fashion-MNIST/MNIST/CIFAR-10 in [-1, 1], the in-memory loader (00)
- ``models``     MLP and DCGAN generators/discriminators, eval_mode, sample (03_mlp_gan, 04_dcgan)
- ``losses``     the GAN objectives, formula beside each line, the LOSSES table (01_minimax, 07_wgan)
- ``train``      TrainConfig, d_step / g_step, the EMA generator and the training loop (03, 04)
- ``loop``       the loop's guarantees for any model, run_loop(task) (03; used by 11)
- ``translation`` pix2pix and CycleGAN as loop tasks, load_translator, translate a folder (11_image_to_image)
- ``fast``       the loop's fast path: device data, channels_last, autocast, compile (04, 08)
- ``checkpoint`` atomic save, load with weights_only=True, resume, one writer per run folder (04, 08)
- ``config``     RunConfig: every run option and its default, the config files, build_run (08)
- ``plots``      sample grids, training curves
- ``metrics``    ``modes`` (mode coverage, 02); ``features``, ``fid``, ``classifier``, ``prdc``,
  ``inception_weights`` (FID and friends, 06_evaluation)
- ``experiment`` chunked training with FID evaluation, best generator, resume (08_full_training)
- ``distributed`` the same runs under ``torchrun`` with DistributedDataParallel (docs/multi_gpu.md, from 08)
- ``sequence``   GANs for token sequences: the oracle LSTM, SeqGAN's rollouts and REINFORCE, the Gumbel-softmax GAN (13)
- ``cli``        ``python -m gan_utils train|run|sample|translate``: a leaf, nothing imports it
- ``configs/``   the run configs (JSON), shipped with the package

The lessons' wing, ``gan_utils.lessons`` (the library never imports it): ``theory`` (01),
``toys`` (02), ``latent`` (04), ``debug_lab`` (05), ``evaluation`` (06), ``lipschitz`` (07),
``recipes`` (10), ``image_to_image`` (11), ``widgets``; and ``gan_utils.exercises`` (the checks of each notebook's exercises).
"""
from .runtime import checkpoint_dir, describe_environment, get_device, in_colab, seed_everything

__version__ = "0.1.0"


def __getattr__(name: str):
    """``gan_utils.SMOKE``: read from ``GAN_COURSE_SMOKE`` when asked for (see gan_utils.runtime)."""
    if name == "SMOKE":
        from . import runtime

        return runtime.SMOKE
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["SMOKE", "checkpoint_dir", "describe_environment", "get_device", "in_colab", "seed_everything", "__version__"]
