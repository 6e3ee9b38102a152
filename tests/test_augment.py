"""DiffAugment (gan_utils.augment) and its place in the D and G steps: each test names the bug it guards against."""
import pytest
import torch
import torch.nn as nn

from gan_utils.augment import DiffAugment, cutout, diff_augment, parse_policy, translate
from gan_utils.train import TrainConfig, d_step, g_step


def _images(b=4, c=1, s=8, seed=0):
    return torch.rand(b, c, s, s, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_augmentation_is_differentiable_for_every_policy():
    # guards against: an augmentation that cuts the graph (numpy, .detach(), integer casts of x), which
    # would leave G without a gradient through T in the G step
    x = _images(s=16).requires_grad_(True)
    for policy in ("color", "translation", "cutout", "color,translation,cutout"):
        x.grad = None
        y = DiffAugment(policy, generator=torch.Generator().manual_seed(1))(x)
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0, policy


def test_translation_gradient_is_the_shifted_upstream_gradient():
    # guards against: a translation whose backward does not route the gradient to the source pixels
    x = torch.randn(2, 1, 5, 5, requires_grad=True)
    up = torch.randn(2, 1, 5, 5)
    (translate(x, torch.tensor([1, -2]), torch.tensor([2, 0])) * up).sum().backward()
    assert torch.allclose(x.grad, translate(up, torch.tensor([-1, 2]), torch.tensor([-2, 0])))


def test_translation_fills_with_zeros_instead_of_wrapping_around():
    # guards against: torch.roll as "translation": the bottom rows would reappear at the top
    x = torch.ones(1, 1, 6, 6)
    y = translate(x, torch.tensor([2]), torch.tensor([-1]))
    assert y[0, 0, :2].abs().sum() == 0 and y[0, 0, :, -1:].abs().sum() == 0
    assert y[0, 0, 2:, :-1].eq(1).all()


def test_cutout_zeroes_a_clipped_square_of_the_asked_size():
    x = torch.ones(2, 3, 8, 8)
    y = cutout(x, torch.tensor([4, 0]), torch.tensor([4, 7]), 4)
    assert (y[0] == 0).all(0).sum().item() == 16                 # a whole 4x4 square, all channels
    assert (y[1] == 0).all(0).sum().item() == 2 * 3              # clipped by the corner: rows 0-1, cols 5-7


def test_random_parameters_are_drawn_per_sample():
    # guards against: one random draw for the whole batch (every image shifted the same way)
    x = _images(b=16, s=16).abs() + 0.5
    y = DiffAugment("translation", generator=torch.Generator().manual_seed(0))(x)
    zero_rows = [(y[i, 0] == 0).all(1).sum().item() for i in range(16)]
    assert len(set(zero_rows)) > 1


def test_unknown_policy_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="color.*translation.*cutout"):
        parse_policy("colour,translation")
    assert parse_policy(None) == () and parse_policy("") == ()
    x = _images()
    assert diff_augment(x, "") is x


class _Recorder(nn.Module):
    """A critic that remembers every input it scores (to see what D was shown)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(1.0))
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return self.w * x.flatten(1).mean(1)


def _has_cutout_hole(x):
    """Images without zeros (16 x 16): a cutout leaves at least 16 zero pixels in every image (an 8 x 8 square,
    at worst clipped to 4 x 4 by a corner)."""
    return bool(((x == 0).flatten(1).sum(1) >= 16).all())


def test_augmentation_applied_to_real_only_would_be_caught():
    # guards against: augmenting the reals but not the fakes in the D step: D could then tell them apart
    # by the augmentation alone, and G would learn to draw cut-out squares
    torch.manual_seed(0)
    D = _Recorder()
    real, fake = torch.ones(4, 1, 16, 16), torch.full((4, 1, 16, 16), 0.5)
    cfg = TrainConfig(loss="wgan-sn", augment="cutout", grad_norms=False)
    d_step(D, real, fake, torch.optim.SGD(D.parameters(), lr=0.0), cfg)
    seen_real, seen_fake = D.inputs[0], D.inputs[1]
    assert _has_cutout_hole(seen_real) and _has_cutout_hole(seen_fake), "the same policy must hit real and fake"
    assert not torch.equal(seen_real != 0, seen_fake != 0), "reals and fakes get their own random draws"


def test_g_step_augments_the_fakes_and_backpropagates_through_the_augmentation():
    # guards against: a G step that scores un-augmented fakes (D was trained on augmented ones only),
    # or one whose augmentation is detached from G's graph
    torch.manual_seed(0)
    D = _Recorder()
    G = nn.Linear(3, 256)
    fake = 0.5 + 0.01 * G(torch.randn(4, 3)).view(4, 1, 16, 16).tanh()   # no zeros, in G's graph
    cfg = TrainConfig(loss="wgan-sn", augment="cutout,translation", grad_norms=False)
    g_step(D, fake, torch.optim.SGD(G.parameters(), lr=0.0), cfg, G)
    assert _has_cutout_hole(D.inputs[0])
    assert G.weight.grad is not None and G.weight.grad.abs().sum() > 0


def test_without_a_policy_D_sees_the_batches_unchanged():
    D = _Recorder()
    real, fake = _images(seed=1), _images(seed=2)
    d_step(D, real, fake, torch.optim.SGD(D.parameters(), lr=0.0), TrainConfig(loss="wgan-sn", grad_norms=False))
    assert torch.equal(D.inputs[0], real) and torch.equal(D.inputs[1], fake)


def test_r1_with_augmentation_differentiates_through_it_with_respect_to_the_reals():
    # guards against: R1 taken w.r.t. the augmented batch (a different tensor from the reals D is
    # regularised on): the gradient must flow back through T to the un-augmented reals
    from gan_utils.losses import r1_penalty

    torch.manual_seed(0)
    aug = DiffAugment("translation", generator=torch.Generator().manual_seed(3))
    w = torch.randn(1, 8, 8)
    D = lambda x: (x.flatten(1) * w.flatten()).sum(1)               # noqa: E731
    real = _images(s=8)
    pen = r1_penalty(lambda x: D(aug(x)), real)
    aug2 = DiffAugment("translation", generator=torch.Generator().manual_seed(3))
    x = real.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(D(aug2(x)).sum(), x)
    assert pen.item() == pytest.approx(g.flatten(1).pow(2).sum(1).mean().item(), rel=1e-6)


def test_on_grey_images_saturation_changes_nothing_and_the_fills_are_mid_grey():
    # guards against: notebook 10's sentences on grey Fashion-MNIST going stale: "saturation" is a no-op on one
    # channel (its mean over channels is the pixel itself), and translation and cutout fill with 0, which is
    # mid-grey in [-1, 1], not the black (-1) of Fashion-MNIST's background
    from gan_utils.augment import adjust_saturation, cutout, translate

    x = torch.rand(4, 1, 8, 8) * 2 - 1
    assert torch.equal(adjust_saturation(x, torch.full((4, 1, 1, 1), 1.7)), x)
    black = -torch.ones(1, 1, 8, 8)
    shifted = translate(black, torch.tensor([2]), torch.tensor([0]))
    assert torch.all(shifted[:, :, :2] == 0) and torch.all(shifted[:, :, 2:] == -1)
    cut = cutout(black, torch.tensor([4]), torch.tensor([4]), 4)
    assert int((cut == 0).sum()) == 16 and int((cut == -1).sum()) == 64 - 16
