"""Reference solutions to the exercises of notebooks/04_dcgan.ipynb.

Each function has the name and signature of the notebook's stub; paste it over the stub (or
``%load ../solutions/04_dcgan.py`` in the notebook) and its check passes.
tests/test_exercises_nb04.py runs every one of them through its check in CI.
"""
import torch


def conv_output_size(size, kernel, stride, padding, transposed=False):
    """Exercise 1: side length after nn.Conv2d / nn.ConvTranspose2d (dilation 1, no output_padding).

    Conv: the window of side `kernel` fits floor((size + 2 padding - kernel) / stride) + 1 times.
    Transposed conv: the exact inverse of that map when the division is exact:
    (size - 1) * stride - 2 padding + kernel.
    """
    if transposed:
        return (size - 1) * stride - 2 * padding + kernel
    return (size + 2 * padding - kernel) // stride + 1


def slerp(z0, z1, t):
    """Exercise 2: spherical interpolation of two 1-D codes at position t in [0, 1]."""
    cos = torch.dot(z0, z1) / (z0.norm() * z1.norm())
    omega = torch.arccos(cos.clamp(-1.0, 1.0))        # clamp: rounding can give |cos| slightly > 1
    so = torch.sin(omega)
    if so.abs() < 1e-6:                                # parallel: the arc is the straight line
        return (1 - t) * z0 + t * z1
    return torch.sin((1 - t) * omega) / so * z0 + torch.sin(t * omega) / so * z1


@torch.no_grad()
def ema_update(ema_model, model, decay, t):
    """Exercise 3: the t-th update of gan_utils.train.EMA, in place.

    The decay warms up, d_t = min(decay, (1 + t) / (10 + t)), so that a short run is not dominated
    by the initial weights; then e <- d_t * e + (1 - d_t) * p for the parameters, buffers copied.
    """
    d = min(decay, (1 + t) / (10 + t))
    for e, p in zip(ema_model.parameters(), model.parameters()):
        e.mul_(d).add_(p, alpha=1 - d)
    for be, b in zip(ema_model.buffers(), model.buffers()):
        be.copy_(b)


def lr_pair():
    """Exercise 4 (open): a learning-rate pair for a 500-step budget.

    With so few steps the paper's 2e-4 for both players is simply slow: both networks move too
    little. Raising *both* rates fivefold keeps the balance between the players (raising only D's,
    the "two time-scale" recipe, lets D win outright at this budget) and trains much further in the
    same number of steps. The paper's warning that 1e-3 is unstable concerns long runs: check a
    longer run before adopting it.
    """
    return 1e-3, 1e-3
