"""Class-conditional models, labels, the AC-GAN losses, the truncation trick and the conditional
metrics (notebook 09). Each test names the bug it guards against."""
import math

import pytest
import torch
import torch.nn.functional as F

from gan_utils import losses
from gan_utils.models import (CONDITIONINGS, ConditionalBatchNorm2d, DCGANDiscriminator, DCGANGenerator,
                              build_model, check_labels, layer_table, sample, truncated_normal)


# ---------------------------------------------------------------- unconditional models unchanged
#: the state_dict of notebook 04's unconditional models at width 8, 32x32, as every existing checkpoint has it
OLD_G_KEYS = {
    "net.0.weight": (16, 32, 4, 4), "net.1.weight": (32,), "net.1.bias": (32,), "net.1.running_mean": (32,),
    "net.1.running_var": (32,), "net.1.num_batches_tracked": (), "net.3.weight": (32, 16, 4, 4),
    "net.4.weight": (16,), "net.4.bias": (16,), "net.4.running_mean": (16,), "net.4.running_var": (16,),
    "net.4.num_batches_tracked": (), "net.6.weight": (16, 8, 4, 4), "net.7.weight": (8,), "net.7.bias": (8,),
    "net.7.running_mean": (8,), "net.7.running_var": (8,), "net.7.num_batches_tracked": (),
    "net.9.weight": (8, 1, 4, 4),
}
OLD_D_KEYS = {
    "net.0.weight": (8, 1, 4, 4), "net.2.weight": (16, 8, 4, 4), "net.3.weight": (16,), "net.3.bias": (16,),
    "net.3.running_mean": (16,), "net.3.running_var": (16,), "net.3.num_batches_tracked": (),
    "net.5.weight": (32, 16, 4, 4), "net.6.weight": (32,), "net.6.bias": (32,), "net.6.running_mean": (32,),
    "net.6.running_var": (32,), "net.6.num_batches_tracked": (), "net.8.weight": (1, 32, 4, 4),
}


def _shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_unconditional_models_keep_the_layout_of_old_checkpoints():
    # guards against: adding labels changing the unconditional models, so notebook 04/08 checkpoints stop loading
    G, D = DCGANGenerator(16, 1, 32, 8), DCGANDiscriminator(1, 32, 8)
    assert _shapes(G) == OLD_G_KEYS and _shapes(D) == OLD_D_KEYS
    assert G.config == {"kind": "DCGANGenerator", "latent_dim": 16, "channels": 1, "image_size": 32, "width": 8}
    assert D.config == {"kind": "DCGANDiscriminator", "channels": 1, "image_size": 32, "width": 8, "norm": "batch"}
    assert G.num_classes is None and D.num_classes is None


def test_old_config_and_state_dict_rebuild_the_same_generator(tmp_path):
    # guards against: build_model / load_generator needing num_classes in configs written before it existed
    from gan_utils.checkpoint import FORMAT, load_generator

    torch.manual_seed(0)
    G = DCGANGenerator(16, 1, 32, 8).eval()
    old_config = {"kind": "DCGANGenerator", "latent_dim": 16, "channels": 1, "image_size": 32, "width": 8}
    torch.save({"format": FORMAT, "model_config": {"G": old_config}, "G": G.state_dict(), "G_ema": None},
               tmp_path / "old.pt")
    G2 = load_generator(tmp_path / "old.pt")
    z = torch.randn(4, 16)
    assert torch.equal(G(z), G2(z))
    assert torch.equal(sample(G, 4, seed=3), G(torch.randn(4, 16, generator=torch.Generator().manual_seed(3))))


def test_unconditional_models_refuse_labels():
    # guards against: labels passed to an unconditional model being silently ignored
    with pytest.raises(ValueError, match="unconditional"):
        DCGANGenerator(16, 1, 32, 8)(torch.randn(2, 16), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="unconditional"):
        DCGANDiscriminator(1, 32, 8)(torch.randn(2, 1, 32, 32), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="unconditional"):
        sample(DCGANGenerator(16, 1, 32, 8), 2, y=3)


# ---------------------------------------------------------------- conditional models
@pytest.mark.parametrize("conditioning", CONDITIONINGS)
@pytest.mark.parametrize("norm", ["batch", "spectral"])
def test_conditional_shapes_and_round_trip(conditioning, norm):
    # guards against: a conditional config that build_model cannot rebuild (checkpoints of cGANs not loading)
    G = DCGANGenerator(16, 3, 32, 8, num_classes=5)
    D = DCGANDiscriminator(3, 32, 8, norm=norm, num_classes=5, conditioning=conditioning)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    x = G(torch.randn(6, 16), y)
    assert x.shape == (6, 3, 32, 32)
    out = D(x, y)
    assert out.shape == ((6, 2) if conditioning == "acgan" else (6,))
    for m in (G, D):
        m2 = build_model(m.config)
        m2.load_state_dict(m.state_dict())
        assert m2.config == m.config and m2.config["num_classes"] == 5
    assert layer_table(G, (16,)) and layer_table(D, (3, 32, 32))


def test_projection_term_is_the_inner_product_of_class_embedding_and_features():
    # guards against: a projection that adds the embedding, multiplies without summing, or picks the wrong row
    torch.manual_seed(0)
    D = DCGANDiscriminator(1, 32, 8, norm="none", num_classes=3, conditioning="projection").eval()
    x = torch.randn(4, 1, 32, 32)
    y = torch.tensor([0, 1, 2, 1])
    phi = D.features(x).flatten(1)                              # (4, 32 * 4 * 4)
    assert phi.shape == (4, D.feature_dim) == (4, 512)
    with torch.no_grad():
        D.net[-1].weight.zero_()                                # psi = 0: only the projection term is left
        V = torch.zeros(3, 512)
        V[1] = 1.0                                              # class 1: the sum of the features
        V[2, :3] = torch.tensor([2.0, -1.0, 0.5])               # class 2: a hand-made combination
        D.embed.weight.copy_(V)
        out = D(x, y)
    assert out.shape == (4,)
    expected = torch.stack([torch.tensor(0.0), phi[1].sum(), 2 * phi[2, 0] - phi[2, 1] + 0.5 * phi[2, 2], phi[3].sum()])
    assert torch.allclose(out, expected, atol=1e-5)
    # with psi back: D(x, y) = psi(phi(x)) + <V[y], phi(x)>, the unconditional logit plus the projection
    with torch.no_grad():
        D.net[-1].weight.normal_()
        full = D(x, y)
        psi = D.net[-1](D.features(x)).view(-1)
    assert torch.allclose(full, psi + (V[y] * phi).sum(1), atol=1e-4)


def test_conditional_batchnorm_applies_the_scale_and_shift_of_the_class_asked_for():
    # guards against: the class table indexed with the wrong labels (or the batch index) in conditional BatchNorm
    cbn = ConditionalBatchNorm2d(2, 3).train()
    with torch.no_grad():
        cbn.gain.weight.copy_(torch.tensor([[1.0, 1.0], [2.0, 3.0], [0.5, 0.5]]))
        cbn.shift.weight.copy_(torch.tensor([[0.0, 0.0], [10.0, -10.0], [1.0, 1.0]]))
    x = torch.randn(4, 2, 3, 3)
    y = torch.tensor([1, 0, 2, 1])
    out = cbn(x, y)
    x_hat = F.batch_norm(x, None, None, training=True)
    want = cbn.gain.weight[y][:, :, None, None] * x_hat + cbn.shift.weight[y][:, :, None, None]
    assert torch.allclose(out, want, atol=1e-5)
    # class weights (a mixture) interpolate the scale and shift; a one-hot row is that class exactly
    w = F.one_hot(y, 3).float()
    assert torch.allclose(cbn(x, w), out, atol=1e-5)


def test_the_label_changes_the_generators_output():
    # guards against: a "conditional" generator whose label never reaches the image
    torch.manual_seed(0)
    G = DCGANGenerator(16, 1, 32, 8, num_classes=4).eval()
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, ConditionalBatchNorm2d):
                m.shift.weight.normal_()
    z = torch.randn(1, 16).repeat(4, 1)
    x = G(z, torch.arange(4))
    assert (x[0] - x[1]).abs().max() > 1e-3 and (x[2] - x[3]).abs().max() > 1e-3


# ---------------------------------------------------------------- labels: never an overflow or off by one
def test_out_of_range_labels_are_a_clear_error_in_G_and_D():
    # guards against: class K (labels counted from 1) indexing past the embedding table: a cryptic IndexError
    # on the CPU, a device-side assert on a GPU
    G = DCGANGenerator(16, 1, 32, 8, num_classes=10)
    D = DCGANDiscriminator(1, 32, 8, num_classes=10)
    with pytest.raises(ValueError, match=r"class label 10 is out of range.*0\.\.9.*subtract 1"):
        G(torch.randn(3, 16), torch.tensor([1, 5, 10]))
    with pytest.raises(ValueError, match="class label -1 is out of range"):
        D(torch.randn(2, 1, 32, 32), torch.tensor([-1, 3]))
    with pytest.raises(ValueError, match="out of range"):
        sample(G, 4, y=12)


@pytest.mark.parametrize("bad, match", [
    (torch.tensor([1.0, 2.0]), "integer class indices"),                  # floats
    (torch.tensor([True, False]), "integer class indices"),               # booleans
    (torch.tensor([[1], [2]]), r"a column: use y.view\(-1\)"),            # (B, 1)
    (torch.tensor([1, 2, 3]), r"shape \(2,\)"),                           # another batch size
    ([1, 2], "torch tensor"),                                             # a list
    (None, "needs class labels"),                                         # forgotten
])
def test_labels_of_the_wrong_kind_are_refused(bad, match):
    # guards against: one-hot / float / column labels being cast or broadcast into the wrong classes
    with pytest.raises(ValueError, match=match):
        DCGANGenerator(16, 1, 32, 8, num_classes=10)(torch.randn(2, 16), bad)


def test_labels_too_narrow_for_the_number_of_classes_are_refused():
    # guards against: labels stored as uint8 (or int8) wrapping around before they reach a model with more classes
    with pytest.raises(ValueError, match="overflowed"):
        check_labels(torch.tensor([3, 200], dtype=torch.uint8), 300, 2)
    with pytest.raises(ValueError, match="overflowed"):
        check_labels(torch.tensor([3, 100], dtype=torch.int8), 200, 2)
    y = check_labels(torch.tensor([3, 200], dtype=torch.uint8), 256, 2)     # fits: accepted, as int64
    assert y.dtype == torch.long and y.tolist() == [3, 200]


def test_sampling_a_conditional_generator_balances_or_follows_the_classes():
    # guards against: sample() of a cGAN crashing without labels (FID, grids) or ignoring the requested classes
    from gan_utils.models import sample_labels

    G = DCGANGenerator(16, 1, 32, 8, num_classes=3)
    assert sample_labels(G, None, 7).tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert sample_labels(G, 2, 3).tolist() == [2, 2, 2]
    assert sample_labels(G, [0, 2], 5).tolist() == [0, 2, 0, 2, 0]
    assert sample(G, 5, y=[1]).shape == (5, 1, 32, 32)


# ---------------------------------------------------------------- AC-GAN
def test_acgan_discriminator_returns_the_logit_and_log_probability_of_the_given_class():
    # guards against: AC-GAN's class term reading another class's probability (a gather on the wrong axis)
    torch.manual_seed(0)
    D = DCGANDiscriminator(1, 32, 8, num_classes=4, conditioning="acgan").eval()
    x, y = torch.randn(5, 1, 32, 32), torch.tensor([0, 3, 1, 2, 3])
    out = D(x, y)
    logp = torch.log_softmax(D.classify(x), 1)
    assert torch.allclose(out[:, 1], logp[torch.arange(5), y], atol=1e-5)
    assert torch.allclose(out[:, 0], D.net[-1](D.features(x)).view(-1), atol=1e-5)


def test_acgan_losses_add_the_class_terms_to_the_bce_game():
    # guards against: the class term missing on the fakes in D's loss (Odena et al. 2017, section 3), or with
    # the wrong sign in G's
    real = torch.tensor([[2.0, -0.1], [0.5, -2.0]])
    fake = torch.tensor([[-1.0, -0.3], [0.2, -1.5]])
    bce = F.binary_cross_entropy_with_logits
    want_d = (bce(real[:, 0], torch.ones(2)) + bce(fake[:, 0], torch.zeros(2))
              - real[:, 1].mean() - fake[:, 1].mean())
    want_g = bce(fake[:, 0], torch.ones(2)) - fake[:, 1].mean()
    assert torch.allclose(losses.d_loss_acgan(real, fake), want_d)
    assert torch.allclose(losses.g_loss_acgan(fake), want_g)
    with pytest.raises(ValueError, match="acgan"):
        losses.d_loss_acgan(torch.zeros(2), torch.zeros(2))       # a projection D's (B,) logits


# ---------------------------------------------------------------- truncation
def test_truncated_normal_redraws_outside_the_threshold_and_keeps_the_shape_of_the_normal():
    # guards against: clamping instead of redrawing (mass piles up at +-t) or rescaling the whole normal
    z = truncated_normal(4000, 50, 1.0, seed=0)
    assert z.shape == (4000, 50) and z.abs().max() <= 1.0
    assert (z.abs() > 0.99).float().mean() < 0.01                     # no pile-up at the bounds
    # variance of N(0, 1) truncated to [-1, 1]: 1 - 2 phi(1) / (2 Phi(1) - 1)
    phi, Phi = math.exp(-0.5) / math.sqrt(2 * math.pi), 0.5 * (1 + math.erf(1 / math.sqrt(2)))
    assert abs(z.var().item() - (1 - 2 * phi / (2 * Phi - 1))) < 0.005
    assert torch.equal(truncated_normal(3, 4, None, seed=1), torch.randn(3, 4, generator=torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match=">= 0.001"):
        truncated_normal(2, 2, 0.0)


def test_truncation_curve_can_reestimate_batchnorm_statistics_on_each_thresholds_codes(monkeypatch):
    # guards against: notebook 09's second truncation curve silently scoring the same generator as the first (the
    # statistics re-estimated on untruncated codes, or not at all), which would make the test of the BatchNorm
    # explanation compare a curve with itself
    from gan_utils.data import ImageDataset
    from gan_utils.metrics import conditional
    from gan_utils.metrics.features import ClassifierFeatures

    calls = []
    real = conditional.recompute_batchnorm_stats
    monkeypatch.setattr(conditional, "recompute_batchnorm_stats",
                        lambda G, **k: calls.append(k.get("truncation")) or real(G, **k))
    torch.manual_seed(0)
    G = DCGANGenerator(16, 1, 32, width=8, num_classes=3)
    imgs = (torch.rand(60, 1, 32, 32) * 255).to(torch.uint8)
    data = ImageDataset(imgs, labels=torch.arange(60) % 3, name="toy")
    ext = ClassifierFeatures("fashion-mnist", device="cpu")
    plain = conditional.truncation_curve(G, data, (None, 0.5), n_per_class=12, extractor=ext, progress=False)
    assert calls == []
    again = conditional.truncation_curve(G, data, (None, 0.5), n_per_class=12, extractor=ext, progress=False,
                                         recompute_bn=True)
    assert calls == [None, 0.5] and len(again) == len(plain) == 2
