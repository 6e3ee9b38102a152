"""Reference solutions to the exercises of notebooks/11_image_to_image.ipynb.

Each function has the name and signature of the notebook's stub; paste it over the stub (or
``%run ../solutions/11_image_to_image.py`` in the notebook) and its check passes.
tests/test_exercises_nb11.py runs every one of them through its check in CI.
"""
import torch


def receptive_field(layers):
    """Exercise 1: walk the layers from the input side; each adds (k - 1) * jump pixels, where the jump is
    the product of the strides before it (neighbouring units of that layer's input are `jump` pixels apart)."""
    r, jump = 1, 1
    for k, s in layers:
        r += (k - 1) * jump
        jump *= s
    return r


def cycle_losses(a, b, G_ab, G_ba, lambda_cycle, lambda_identity):
    """Exercise 2: CycleGAN's L1 terms: both cycles, both identity mappings (the authors' weights)."""
    cyc = (G_ba(G_ab(a)) - a).abs().mean() + (G_ab(G_ba(b)) - b).abs().mean()   # a -> b -> a, b -> a -> b
    idt = (G_ab(b) - b).abs().mean() + (G_ba(a) - a).abs().mean()               # a B image stays a B image
    return lambda_cycle * cyc + lambda_identity * lambda_cycle * idt


class Pool:
    """Exercise 3: the history of fakes (CycleGAN's image pool)."""

    def __init__(self, size):
        self.size, self.images = size, []

    def __call__(self, images):
        if self.size == 0:
            return images
        out = []
        for img in images:
            if len(self.images) < self.size:             # filling: keep it, hand it on
                self.images.append(img.clone())
                out.append(img)
            elif torch.rand(()) < 0.5:                   # full: hand on an old one, keep the new one
                k = int(torch.randint(self.size, ()))
                out.append(self.images[k])
                self.images[k] = img.clone()
            else:
                out.append(img)
        return torch.stack(out)


def make_pool(size):
    """Exercise 3: a pool of ``size`` images."""
    return Pool(size)
