"""The lessons' wing: helpers that serve one notebook each (figures, demos, lab set-ups).

The library (``gan_utils.runtime``, ``data``, ``models``, ``losses``, ``train``, ``checkpoint``,
``config``, ``experiment``, ``fast``, ``plots``, ``metrics``) never imports from here;
``tests/test_architecture.py`` checks it.

- ``theory``     D*, V(D, G), JSD and W1 on 1-D grids (01_minimax; reused by 02 and 07)
- ``toys``       the toy distributions (1-D Gaussians, ring8, grid25) and toy GAN runs (02_toy_gans)
- ``latent``     linear and spherical latent interpolation, the latent explorer (04_dcgan)
- ``debug_lab``  the classic GAN bugs behind switches, the Dirac GAN (05_debugging_lab)
- ``evaluation`` corruption ladders, FD against n, class subsets (06_evaluation)
- ``lipschitz``  JSD vs W1 in 1-D, how Lipschitz a critic is, clipping / GP / SN compared (07_wgan)
- ``widgets``    sliders with a static fallback (01, 04)
- ``recipes``    the Dirac GAN and the recorded recipe comparison (10_modern_recipes)
- ``image_to_image`` the edges -> garments and sneaker <-> sandal tasks, their measures and recorded ablations (11_image_to_image)
- ``sequence_gans`` gradient estimators through a token, the oracle experiment, exposure bias, temperature sweeps (13_sequence_gans)
- ``records``    mean +- std over seeds and loading the recorded results (10, 11, 13)
"""
