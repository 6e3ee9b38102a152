"""Reference solutions to the exercises of notebooks/09_conditional.ipynb.

Each function has the name and signature of the notebook's stub; paste it over the stub (or
``%load ../solutions/09_conditional.py`` in the notebook) and its check passes.
tests/test_exercises_nb09.py runs every one of them through its check in CI.
"""
import torch
import torch.nn.functional as F


def projection_logits(phi, y, w, b, V):
    """Exercise 1: D(x, y) = psi(phi(x)) + <V[y], phi(x)> with a linear psi(phi) = <w, phi> + b."""
    unconditional = phi @ w + b                 # (B, d) @ (d,) -> (B,): psi(phi(x))
    projection = (V[y] * phi).sum(1)            # V[y]: (B, d), the row of each image's class; <V[y], phi>: (B,)
    return unconditional + projection


def truncated_normal(n, dim, threshold, generator):
    """Exercise 2: N(0, 1) draws, every coordinate outside [-threshold, threshold] drawn again."""
    z = torch.randn(n, dim, generator=generator)
    while True:
        outside = z.abs() > threshold           # redraw only these coordinates
        count = int(outside.sum())
        if count == 0:
            return z
        z[outside] = torch.randn(count, generator=generator)


def acgan_losses(src_real, src_fake, cls_real, cls_fake, y_real, y_fake):
    """Exercise 3: AC-GAN (Odena et al. 2017): D maximises L_S + L_C, G maximises L_C - L_S
    (non-saturating source term for G)."""
    ones, zeros = torch.ones_like(src_real), torch.zeros_like(src_fake)
    loss_s_d = (F.binary_cross_entropy_with_logits(src_real, ones)          # -E[log P(S=real | x)]
                + F.binary_cross_entropy_with_logits(src_fake, zeros))      # -E[log P(S=fake | G(z, c))]
    loss_c = F.cross_entropy(cls_real, y_real) + F.cross_entropy(cls_fake, y_fake)   # -L_C: reals and fakes
    loss_d = loss_s_d + loss_c
    loss_g = (F.binary_cross_entropy_with_logits(src_fake, torch.ones_like(src_fake))  # -E[log D(G(z, c))]
              + F.cross_entropy(cls_fake, y_fake))                                    # -E[log p(c | G(z, c))]
    return loss_d, loss_g
