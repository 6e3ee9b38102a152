"""gan_utils: the tested helper package behind the GAN course notebooks.

Each module's docstring names the notebook that teaches its idea. The library:

- ``runtime``    device, seeding, smoke switch, env flags (00_setup)
- ``data``       Fashion-MNIST/MNIST/CIFAR-10 in [-1, 1], the in-memory loader (00)
- ``models``     MLP and DCGAN generators/discriminators (03_mlp_gan, 04_dcgan)
- ``losses``     the GAN objectives, formula beside each line (01_minimax, 07_wgan)
- ``train``      d_step / g_step and the training loop (03, 04)
- ``fast``       the fast path of the loop: device data, channels_last, autocast, compile (04, 08)
- ``checkpoint`` atomic save, load with weights_only=True, resume (04, 08)
- ``plots``      sample grids, training curves
- ``metrics``    mode coverage (02), FID and friends (06_evaluation)
- ``experiment`` chunked training with FID evaluation, best checkpoint, resume (08_full_training)
- ``cli``        ``python -m gan_utils train|run|sample``: a leaf, nothing imports it

The lessons' wing, ``gan_utils.lessons`` (the library never imports it): ``theory`` (01),
``toys`` (02), ``latent`` (04), ``debug_lab`` (05), ``evaluation`` (06), ``lipschitz`` (07),
``widgets``; and ``gan_utils.exercises`` (the checks of each notebook's exercises).
"""
from .runtime import SMOKE, checkpoint_dir, describe_environment, get_device, in_colab, seed_everything

__version__ = "0.1.0"

__all__ = ["SMOKE", "checkpoint_dir", "describe_environment", "get_device", "in_colab", "seed_everything", "__version__"]
