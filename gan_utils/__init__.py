"""gan_utils: the tested helper package behind the GAN course notebooks.

Each module's docstring names the notebook that teaches its idea:

- ``runtime``   device, seeding, smoke switch (00_setup)
- ``data``      Fashion-MNIST/MNIST/CIFAR-10 in [-1, 1], in-memory loader, toy mixtures (00, 02)
- ``theory``    D*, V(D, G), JSD and W1 on 1-D grids (01_minimax; reused by 02 and 07)
- ``losses``    the GAN objectives (01_minimax, 07_wgan)
- ``models``    MLP and DCGAN generators/discriminators (03_mlp_gan, 04_dcgan)
- ``train``     d_step / g_step and the training loop with checkpoints (03, 04)
- ``latent``    linear and spherical latent interpolation, the latent explorer (04_dcgan)
- ``debug_lab`` the classic GAN bugs behind switches (05_debugging_lab)
- ``metrics``   mode coverage (02), FID and friends (06_evaluation)
- ``wgan``      JSD vs W1, clipping/GP/SN comparisons (07_wgan)
- ``experiment`` chunked training with FID evaluation, best checkpoint, resume (08_full_training)
- ``plots``, ``widgets``  figures and interactive controls used throughout
"""
from .runtime import SMOKE, checkpoint_dir, describe_environment, get_device, in_colab, seed_everything

__version__ = "0.1.0"

__all__ = ["SMOKE", "checkpoint_dir", "describe_environment", "get_device", "in_colab", "seed_everything", "__version__"]
