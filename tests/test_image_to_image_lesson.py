"""The measures of notebook 11 (gan_utils.lessons.image_to_image) on hand-made translators whose answers
are known exactly: the numbers docs/translation_record.json holds are these functions' outputs, so a
wrong sign, a swapped argument or a mis-scaled image here would change every recorded reading."""
import torch
import torch.nn as nn

from gan_utils.lessons import image_to_image as i2i


class _Map(nn.Module):
    """A 'generator' that applies ``fn`` (translate_images needs a parameter to find the device)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return self.fn(x)


class _BrightnessClassifier(nn.Module):
    """Class 1 when the image's mean is above 0, else class 0 (images in [-1, 1])."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        m = x.flatten(1).mean(1)
        return torch.stack([-m, m], 1)


def _images(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8)


def test_hidden_information_of_identity_translators():
    # guards against: the section-4 measures comparing the wrong images (cycle error against the edges,
    # noise drawn differently for the two rows, sign() thresholds on the wrong scale)
    b, edges = _images(seed=0), i2i.sobel_edges(_images(seed=0))
    ident = _Map(lambda x: x)
    h = i2i.hidden_information(ident, ident, b, edges, noise=(0.02, 0.1), seed=3)
    bf, ef = b.float() / 127.5 - 1, edges.float() / 127.5 - 1
    sign = torch.where(bf >= 0, 1.0, -1.0)
    eps = 1e-6                                       # float32 means of values in [0, 2]
    assert h["cycle"] == 0.0                         # e = b, and G_AB(e) = e: nothing is lost on the way
    assert abs(h["true_edges"] - float((ef - bf).abs().mean())) < eps
    assert abs(h["binarised"] - float((sign - bf).abs().mean())) < eps
    assert abs(h["off_binary"] - h["binarised"]) < eps          # with identity maps the two are the same number
    g = torch.Generator().manual_seed(3)
    for s in (0.02, 0.1):                            # the same draws, in order, for both rows
        z = torch.randn(bf.shape, generator=g) * s
        assert abs(h["noise"][str(s)] - float(z.abs().mean())) < eps
        assert abs(h["noise_on_true_edges"][str(s)] - float((ef + z - bf).abs().mean())) < eps
    assert h["n"] == len(b)


def test_class_flip_counts_the_target_class_and_the_cycle_undoes_an_inverse():
    # guards against: flip counting the source class, or the cycle error comparing with the translation
    a = _images(n=40, seed=1)
    clf = _BrightnessClassifier()
    neg = _Map(lambda x: -x)                         # its own inverse: the cycle returns the input exactly
    real_b = _images(n=40, seed=2)
    r = i2i.evaluate_class_flip(neg, neg, a, 1, real_b, classifier=clf)
    af = a.float() / 127.5 - 1
    expected = float(((-af).flatten(1).mean(1) > 0).float().mean())
    assert r["flip"] == expected and 0 < expected < 1           # the images straddle the boundary
    assert r["cycle_l1"] == 0.0 and r["n"] == 40
    other = i2i.evaluate_class_flip(neg, neg, a, 0, real_b, classifier=clf)
    assert round(other["flip"] * 40) + round(r["flip"] * 40) == 40   # every output is in class 0 or 1


def test_evaluate_pairs_of_a_perfect_and_of_a_blank_translator():
    # guards against: per-pixel L1 on [0, 255] instead of [-1, 1], or agreement against the wrong labels
    from gan_utils.data import ImageDataset, TwoDomainData

    a, b = _images(n=20, seed=4), _images(n=20, seed=5)
    clf = _BrightnessClassifier()
    labels = clf(b.float() / 127.5 - 1).argmax(1)
    test = TwoDomainData(ImageDataset(a, labels, "A"), ImageDataset(b, labels, "B"), paired=True, name="hand-made")
    lookup = {tuple(x.flatten().tolist()): y for x, y in zip(a.float() / 127.5 - 1, b.float() / 127.5 - 1)}
    perfect = _Map(lambda x: torch.stack([lookup[tuple(v.flatten().tolist())] for v in x]))
    r = i2i.evaluate_pairs(perfect, test, n=20, classifier=clf)
    assert r["l1"] == 0.0 and r["agreement"] == 1.0 and r["n"] == 20
    blank = _Map(lambda x: torch.full_like(x, -1.0))
    r = i2i.evaluate_pairs(blank, test, n=20, classifier=clf)
    assert abs(r["l1"] - float((b.float() / 127.5).mean())) < 1e-6   # |-1 - b| = b / 127.5 in [0, 2]
    assert r["agreement"] == float((labels == 0).float().mean())     # a black image is class 0
