"""Salimans et al. 2016's techniques (notebook 14): each test names the bug it guards against."""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_utils import seed_everything
from gan_utils.data import ImageDataset, InMemoryLoader, synthetic_images
from gan_utils.lessons import improved, theory
from gan_utils.losses import (HistoricalAverage, d_loss_bce, feature_matching_loss, semi_supervised_d_loss,
                              semi_supervised_d_loss_unlabelled)
from gan_utils.models import (DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator,
                              MinibatchDiscrimination, VirtualBatchNorm, build_model)
from gan_utils.runtime import ConfigError
from gan_utils.train import TrainConfig, d_step, g_step, make_optimizers, train

# float64 where a hand computation is compared: the tolerance is then far below any real mistake
F64 = dict(rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- feature matching
def test_feature_matching_is_the_squared_distance_of_the_batch_means():
    # guards against: matching per-sample features (a paired L1 as in pix2pixHD) or forgetting the square
    g = torch.Generator().manual_seed(0)
    real = torch.randn(8, 3, 2, 2, generator=g, dtype=torch.float64)
    fake = torch.randn(5, 3, 2, 2, generator=g, dtype=torch.float64, requires_grad=True)
    want = sum((real.flatten(1)[:, k].mean() - fake.flatten(1)[:, k].mean()) ** 2 for k in range(12))
    got = feature_matching_loss(real, fake)
    assert torch.allclose(got.double(), want, **{"rtol": 1e-6, "atol": 0})      # the loss computes in float32
    got.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    same = feature_matching_loss(real, real.clone())
    assert same == 0                                                            # equal means: no loss
    with pytest.raises(ValueError, match="same layer"):
        feature_matching_loss(real, torch.randn(5, 4))


def test_feature_matching_g_step_trains_G_through_D_features_and_leaves_D_alone():
    # guards against: feature matching that back-propagates into D, or one that uses D's scores
    torch.manual_seed(0)
    G, D = DCGANGenerator(16, 1, 32, 8), DCGANDiscriminator(1, 32, 8)
    cfg = TrainConfig.preset("feature-matching", latent_dim=16)
    opt_g, _ = make_optimizers(G, D, cfg)
    before = [p.detach().clone() for p in D.parameters()]
    real = torch.rand(8, 1, 32, 32) * 2 - 1
    with pytest.raises(ConfigError, match="real batch"):
        g_step(D, G(torch.randn(8, 16)), opt_g, cfg, G)
    out = g_step(D, G(torch.randn(8, 16)), opt_g, cfg, G, real=real)
    assert all(torch.equal(a, b) for a, b in zip(before, D.parameters()))
    assert all(p.grad is None for p in D.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
    assert out["loss_G"] > 0


# ---------------------------------------------------------------- minibatch discrimination
def test_minibatch_discrimination_equals_a_hand_loop_over_i_j_b():
    # guards against: the L1 norm taken over the wrong axis, j = i left out, or exp(+distance)
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(4, 3, 2).double()
    assert layer.T.shape == (4, 3, 2)
    f = torch.randn(5, 4, dtype=torch.float64)
    o = layer(f)
    M = torch.einsum("na,abc->nbc", f, layer.T)                    # M_i = f(x_i) T: (n, B, C)
    want = torch.zeros(5, 3, dtype=torch.float64)
    for i in range(5):
        for b in range(3):
            for j in range(5):                                      # j over the whole batch, i included
                want[i, b] += torch.exp(-(M[i, b] - M[j, b]).abs().sum())
    assert torch.allclose(o, want, **F64)


def test_minibatch_discrimination_tells_a_collapsed_batch_from_a_spread_one():
    # guards against: a layer whose output does not depend on the rest of the batch
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(6, 4, 5, init_std=1.0)
    same = layer(torch.randn(1, 6).expand(8, 6))
    assert torch.allclose(same, torch.full_like(same, 8.0))           # every c_b = exp(0) = 1, summed over 8
    spread = layer(10 * torch.randn(8, 6))
    assert (spread < 1.01).all() and (spread >= 1.0).all()            # only the sample itself is close
    f = torch.randn(8, 6)
    g = f.clone()
    g[1:] = torch.randn(7, 6)                                         # sample 0 unchanged, the others not
    assert not torch.allclose(layer(f)[0], layer(g)[0])


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
@pytest.mark.parametrize("minibatch", ["discrimination", "stddev"])
def test_a_minibatch_discriminator_scores_a_sample_in_the_context_of_its_batch(model, minibatch):
    # guards against: a minibatch option that is built but never reaches the logit
    torch.manual_seed(0)
    D = MLPDiscriminator((2,), 16, 2, minibatch=minibatch) if model == "mlp" else \
        DCGANDiscriminator(1, 32, 8, minibatch=minibatch)
    x = torch.randn(8, 2) if model == "mlp" else torch.randn(8, 1, 32, 32)
    y = x.clone()
    y[4:] = x[0]                                                      # the same first sample, another batch
    with torch.no_grad():
        a, b = D(x), D(y)
    assert a.shape == (8,) and not torch.allclose(a[0], b[0])
    assert build_model(D.config).config == D.config                  # checkpoints rebuild it
    plain = MLPDiscriminator((2,), 16, 2) if model == "mlp" else DCGANDiscriminator(1, 32, 8)
    assert "minibatch" not in plain.config                            # older configs stay as they were


# ---------------------------------------------------------------- one-sided label smoothing
def test_label_smoothed_bce_is_the_cross_entropy_with_target_alpha():
    # guards against: smoothing that scales the loss instead of the target, or that touches the fakes
    g = torch.Generator().manual_seed(1)
    r, f = torch.randn(7, generator=g, dtype=torch.float64), torch.randn(6, generator=g, dtype=torch.float64)
    a = 0.9
    want = -(a * F.logsigmoid(r) + (1 - a) * F.logsigmoid(-r)).mean() - F.logsigmoid(-f).mean()
    assert torch.allclose(d_loss_bce(r, f, real_label=a), want, **F64)
    assert torch.allclose(d_loss_bce(r, f), d_loss_bce(r, f, real_label=1.0), **F64)
    with pytest.raises(ValueError, match="real_label=1.5"):
        d_loss_bce(r, f, real_label=1.5)


def test_the_optimal_discriminator_under_label_smoothing_on_a_1d_example():
    # guards against: a D* formula that is not the minimiser of the smoothed loss (the paper's
    # (alpha p_data + beta p_g) / (p_data + p_g)), and shows what smoothing the fakes does where p_data = 0
    counts_data = np.array([0, 0, 1, 4, 10, 4, 1, 0, 0, 0])          # the real samples at x = 0..9
    counts_g = np.array([0, 1, 2, 3, 2, 2, 3, 6, 8, 3])              # the generated ones: mass where data is not
    p_data, p_g = counts_data / counts_data.sum(), counts_g / counts_g.sum()
    seen = (counts_data + counts_g) > 0
    for a, b in ((1.0, 0.0), (0.9, 0.0), (0.9, 0.1)):
        fitted = improved.fit_pointwise_discriminator(counts_data, counts_g, a, b)
        closed = theory.optimal_discriminator(p_data, p_g, a, b)
        assert np.allclose(fitted[seen], closed[seen], atol=1e-6), (a, b)
    only_fake = (counts_data == 0) & (counts_g > 0)
    one = theory.optimal_discriminator(p_data, p_g, 0.9, 0.0)
    two = theory.optimal_discriminator(p_data, p_g, 0.9, 0.1)
    assert np.allclose(one[only_fake], 0.0) and np.allclose(two[only_fake], 0.1)   # two-sided: fakes there kept at 0.1


def test_label_smoothing_reaches_the_d_step_and_is_refused_where_it_means_nothing():
    # guards against: a real_label setting that the training loop silently ignores
    torch.manual_seed(0)
    G, D = DCGANGenerator(16, 1, 32, 8), DCGANDiscriminator(1, 32, 8)
    real, fake = torch.rand(8, 1, 32, 32) * 2 - 1, G(torch.randn(8, 16)).detach()
    losses = []
    for label in (1.0, 0.9):
        D2 = DCGANDiscriminator(1, 32, 8)
        D2.load_state_dict(D.state_dict())
        cfg = TrainConfig(latent_dim=16, real_label=label)
        losses.append(float(d_step(D2, real, fake, make_optimizers(G, D2, cfg)[1], cfg)["loss_D"]))
    with torch.no_grad():
        want = float(d_loss_bce(D(real), D(fake), real_label=0.9))
    assert losses[0] != losses[1] and math.isclose(losses[1], want, rel_tol=1e-5)
    for bad in (dict(loss="hinge", real_label=0.9), dict(real_label=0.0), dict(real_label=True)):
        with pytest.raises(ConfigError, match="real_label"):
            TrainConfig(**bad)


# ---------------------------------------------------------------- historical averaging
def test_historical_average_is_the_mean_of_every_past_value_and_its_penalty_the_squared_distance():
    # guards against: an exponential average passed off as (1/t) sum theta[i], or a mean that gets gradients
    lin = nn.Linear(3, 2).double()
    h = HistoricalAverage(lin)
    seen = []
    for t in range(5):
        with torch.no_grad():
            for p in lin.parameters():
                p.add_(torch.randn_like(p))
        seen.append([p.detach().clone() for p in lin.parameters()])
        h.update(lin)
        means = [torch.stack([s[k] for s in seen]).mean(0) for k in range(2)]
        assert all(torch.allclose(m, hm, **F64) for m, hm in zip(means, h.mean))
        pen = h.penalty(lin)
        want = sum(((p.detach() - m) ** 2).sum() for p, m in zip(lin.parameters(), means))
        assert torch.allclose(pen.double(), want, rtol=1e-6)
    assert h.t == 5 and all(not m.requires_grad for m in h.mean)
    pen.backward()
    assert all(torch.allclose(p.grad, 2 * (p.detach() - m).float().double(), rtol=1e-5)
               for p, m in zip(lin.parameters(), h.mean))
    h2 = HistoricalAverage(nn.Linear(3, 2).double())
    h2.load_state_dict(h.state_dict())
    assert h2.t == 5 and all(torch.equal(a, b) for a, b in zip(h.mean, h2.mean))


def test_historical_averaging_needs_its_running_mean():
    # guards against: hist_avg_weight > 0 silently doing nothing when the step gets no average
    torch.manual_seed(0)
    G, D = DCGANGenerator(16, 1, 32, 8), DCGANDiscriminator(1, 32, 8)
    cfg = TrainConfig(latent_dim=16, hist_avg_weight=0.1)
    opt_g, opt_d = make_optimizers(G, D, cfg)
    with pytest.raises(ConfigError, match="HistoricalAverage"):
        d_step(D, torch.rand(4, 1, 32, 32) * 2 - 1, G(torch.randn(4, 16)), opt_d, cfg)
    h = HistoricalAverage(D)
    out = d_step(D, torch.rand(4, 1, 32, 32) * 2 - 1, G(torch.randn(4, 16)), opt_d, cfg, hist=h)
    assert out["hist_avg_D"] == 0 and h.t == 1                         # step 1: the mean is theta itself
    out = d_step(D, torch.rand(4, 1, 32, 32) * 2 - 1, G(torch.randn(4, 16)), opt_d, cfg, hist=h)
    assert out["hist_avg_D"] > 0 and h.t == 2
    with pytest.raises(ConfigError, match="hist_avg_weight"):
        TrainConfig(hist_avg_weight=-1.0)


# ---------------------------------------------------------------- virtual batch normalisation
def _vbn_by_hand(layer, ref, x):
    dims = (0, 2, 3)
    mu_r, m2_r = ref.mean(dims), (ref ** 2).mean(dims)
    out_ref = (ref - mu_r[None, :, None, None]) / torch.sqrt(m2_r - mu_r ** 2 + layer.eps)[None, :, None, None]
    outs = []
    n = ref.shape[0]
    for i in range(x.shape[0]):                                        # sample i joins the reference batch
        both = torch.cat([ref, x[i:i + 1]])
        mu = both.mean(dims)
        var = (both ** 2).mean(dims) - mu ** 2
        outs.append((x[i] - mu[:, None, None]) / torch.sqrt(var + layer.eps)[:, None, None])
        assert torch.allclose(mu, (n * mu_r + x[i].mean((1, 2))) / (n + 1), **F64)
    w, b = layer.weight.double()[None, :, None, None], layer.bias.double()[None, :, None, None]
    return torch.cat([out_ref, torch.stack(outs)]) * w + b


def test_virtual_batchnorm_uses_the_reference_batch_and_the_sample_not_the_current_batch():
    # guards against: VBN that normalises with the current batch's statistics (plain BatchNorm in disguise)
    torch.manual_seed(0)
    layer = VirtualBatchNorm(3, n_ref=6).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        layer.bias.copy_(torch.tensor([0.0, -1.0, 0.3]))
    ref, x = torch.randn(6, 3, 4, 4, dtype=torch.float64), 3 + 2 * torch.randn(5, 3, 4, 4, dtype=torch.float64)
    out = layer(torch.cat([ref, x]))
    assert torch.allclose(out, _vbn_by_hand(layer, ref, x), **F64)
    other = x.clone()
    other[1:] = torch.randn(4, 3, 4, 4, dtype=torch.float64) * 10      # the rest of the batch changes
    assert torch.allclose(layer(torch.cat([ref, other]))[6], out[6], **F64)   # sample 0's output does not
    bn = nn.BatchNorm2d(3).double()
    assert not torch.allclose(bn(x)[0], bn(other)[0])                  # BatchNorm's does
    flat = VirtualBatchNorm(4, n_ref=3)
    assert flat(torch.randn(7, 4)).shape == (7, 4)                     # (n, C) features work too


@pytest.mark.parametrize("kind", ["dcgan", "mlp"])
def test_a_virtual_bn_generator_keeps_its_reference_batch_and_makes_each_sample_alone(kind):
    # guards against: a reference batch redrawn at every call (or lost in a checkpoint), and samples that
    # depend on the batch they were drawn with
    torch.manual_seed(0)
    G = DCGANGenerator(16, 1, 32, 8, norm="virtual", n_ref=8) if kind == "dcgan" else \
        MLPGenerator(4, (2,), 16, 2, norm="virtual", n_ref=8)
    z = torch.randn(6, G.latent_dim)
    with torch.no_grad():
        a, b = G(z), G(torch.cat([z[:1], torch.randn(3, G.latent_dim)]))
        assert torch.allclose(a[0], b[0], atol=1e-6)
        G.eval()
        assert torch.allclose(G(z), a, atol=1e-6)                       # train and eval compute the same
    assert "ref_z" in G.state_dict()
    G2 = build_model(G.config)
    G2.load_state_dict(G.state_dict())
    assert torch.equal(G2.ref_z, G.ref_z)


# ---------------------------------------------------------------- the K+1-class loss
def test_the_unlabelled_loss_is_the_gan_loss_of_D_equal_Z_over_Z_plus_1():
    # guards against: a K+1 loss written with exp (overflow) or with the wrong D(x)
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(6, 10, generator=g, dtype=torch.float64), torch.randn(5, 10, generator=g, dtype=torch.float64)

    def p_generated(logits):                                          # softmax over K+1 classes, l_{K+1} = 0
        full = torch.cat([logits, torch.zeros(len(logits), 1, dtype=logits.dtype)], 1)
        return torch.softmax(full, 1)[:, -1]

    Z = real.exp().sum(1)
    assert torch.allclose(1 - p_generated(real), Z / (Z + 1), **F64)   # D(x) = Z(x) / (Z(x) + 1)
    want = -torch.log(1 - p_generated(real)).mean() - torch.log(p_generated(fake)).mean()
    assert torch.allclose(semi_supervised_d_loss_unlabelled(real, fake).double(), want, rtol=1e-6)
    huge = torch.full((2, 10), 1000.0)                                  # exp(1000) overflows
    assert torch.isfinite(semi_supervised_d_loss_unlabelled(huge, -huge))
    y = torch.tensor([3, 1, 0, 9, 2, 2])
    total, sup, unsup = semi_supervised_d_loss(real, y, real, fake, unlabelled_weight=0.5)
    assert torch.allclose(sup.double(), F.cross_entropy(real, y), rtol=1e-6)
    assert torch.allclose(total, sup + 0.5 * unsup)


# ---------------------------------------------------------------- resume, with each new option
OPTIONS = {
    "feature matching": (dict(loss="feature-matching"), {}, {}),
    "label smoothing": (dict(real_label=0.9), {}, {}),
    "historical averaging": (dict(hist_avg_weight=0.05), {}, {}),
    "minibatch discrimination": ({}, {}, dict(minibatch="discrimination", mbd_features=8)),
    "minibatch stddev": ({}, {}, dict(minibatch="stddev")),
    "virtual BN": ({}, dict(norm="virtual", n_ref=8), {}),
}


def _run(tmp, steps, option, kill_at=None):
    cfg_kw, g_kw, d_kw = (dict(o) for o in OPTIONS[option])      # copies: the loss is popped below
    seed_everything(0)
    G, D = DCGANGenerator(16, 1, 32, 8, **g_kw), DCGANDiscriminator(1, 32, 8, **d_kw)
    loader = InMemoryLoader(synthetic_images(96, 1, 32, seed=1), 16, seed=3)
    cfg = TrainConfig.preset(cfg_kw.pop("loss", "bce-ns"), latent_dim=16, steps=steps, batch_size=16, ckpt_every=4,
                             log_every=2, sample_every=0, n_samples=4, **cfg_kw)

    def cb(info):
        if kill_at is not None and info["step"] >= kill_at:
            raise KeyboardInterrupt("simulated kill")

    return train(G, D, loader, cfg, out_dir=tmp, resume=True, callback=cb, progress=False)


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_a_resume_with_each_new_option_is_bit_exact(tmp_path, option):
    # guards against: new state (the historical averages, the VBN reference batch) left out of the checkpoint
    full = _run(tmp_path / "a", 10, option)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "b", 10, option, kill_at=6)                  # dies after the step-4 checkpoint
    seed_everything(123)                                               # a fresh process: other RNG state
    resumed = _run(tmp_path / "b", 10, option)
    for a, b in ((full.G, resumed.G), (full.D, resumed.D), (full.G_ema, resumed.G_ema)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert full.history["loss_D"] == resumed.history["loss_D"] and full.history["loss_G"] == resumed.history["loss_G"]
    ck = torch.load(tmp_path / "b" / "checkpoint_latest.pt", weights_only=True)
    assert (ck["hist_avg"] is not None) == (option == "historical averaging")
    if option == "virtual BN":
        assert "ref_z" in ck["G"]


def test_a_resume_that_would_change_an_option_is_refused(tmp_path):
    # guards against: turning label smoothing on half-way through a run under the same folder
    from gan_utils.checkpoint import CheckpointError

    _run(tmp_path, 4, "historical averaging")
    seed_everything(0)
    G, D = DCGANGenerator(16, 1, 32, 8), DCGANDiscriminator(1, 32, 8)
    cfg = TrainConfig(latent_dim=16, steps=6, batch_size=16, real_label=0.9, n_samples=4)
    with pytest.raises(CheckpointError, match="real_label"):
        train(G, D, InMemoryLoader(synthetic_images(96, 1, 32, seed=1), 16, seed=3), cfg, out_dir=tmp_path,
              resume=True, progress=False)


def test_feature_matching_is_refused_for_a_conditional_gan():
    G, D = DCGANGenerator(16, 1, 32, 8, num_classes=3), DCGANDiscriminator(1, 32, 8, num_classes=3)
    data = InMemoryLoader(synthetic_images(48, 1, 32), 16, with_labels=True)
    data.labels = data.labels % 3
    with pytest.raises(ConfigError, match="unconditional"):
        train(G, D, data, TrainConfig.preset("feature-matching", latent_dim=16, steps=1, batch_size=16), progress=False)


# ---------------------------------------------------------------- the semi-supervised GAN as a loop Task
def _tiny_labelled(n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = (torch.rand(n, 1, 28, 28, generator=g) * 60 + y[:, None, None, None] * 19).clamp(0, 255).to(torch.uint8)
    return ImageDataset(x, y, "tiny")


@pytest.mark.parametrize("kind", ["gan", "labelled-only"])
def test_the_semi_supervised_runs_resume_bit_for_bit(tmp_path, kind):
    # guards against: a Task that forgets a loader position, the averaged classifier or the noise layers' RNG
    from gan_utils.loop import run_loop
    from gan_utils.semisup import LabelledOnly, SemiSupervisedConfig, SemiSupervisedGAN

    Task = SemiSupervisedGAN if kind == "gan" else LabelledOnly
    data, test = _tiny_labelled(), _tiny_labelled(50, seed=1)
    cfg = SemiSupervisedConfig(labels_per_class=2, batch_size=20, hidden=(32, 16), g_hidden=16, latent_dim=8,
                               steps=6, sample_every=3)
    whole = Task(cfg, data, test)
    r = run_loop(whole, 6, out_dir=tmp_path / "whole", log_every=2, sample_every=3, progress=False)
    first = Task(cfg, data, test)
    run_loop(first, 3, out_dir=tmp_path / "split", log_every=2, sample_every=3, progress=False)
    torch.manual_seed(99)
    second = Task(cfg, data, test)
    r2 = run_loop(second, 6, out_dir=tmp_path / "split", resume=True, log_every=2, sample_every=3, progress=False)
    for name, m in whole.modules().items():
        sa, sb = m.state_dict(), second.modules()[name].state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), name
    assert r.history["loss_supervised"] == r2.history["loss_supervised"]
    assert whole.curve == second.curve and whole.curve["step"] == [3, 6]
    assert len(whole.labelled.images) == 20 and set(whole.labelled.labels.tolist()) == set(range(10))


# ---------------------------------------------------------------- the record's code paths at toy size
def test_the_recorded_arms_run_end_to_end_at_toy_size():
    # guards against: a record script that breaks after an hour of training (a toy arm, an image arm and both
    # semi-supervised runs, at sizes that take seconds)
    import warnings

    from gan_utils.data import load_dataset

    sizes = {**improved.SMOKE_SIZES, "image_steps": 2, "fd_n": 64}
    toy = improved.run_toy_arm(improved.TOY_ARMS["combination"], "ring8", 0, sizes, keep_samples=5)
    assert 0 <= toy["modes"] <= 8 and len(toy["samples"]) == 5 and toy["curve"]["step"][-1] == 6
    data = load_dataset("fashion-mnist", train=True, image_size=32)
    small = ImageDataset(data.images[:256], data.labels[:256], "fashion-mnist[:256]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = improved.run_image_arm(improved.IMAGE_ARMS["combination"], small, 0, sizes)
    assert np.isfinite(img["fd"]) and 0 <= img["recall"] <= 1 and img["samples_u8"] is not None
    tr, te = _tiny_labelled(), _tiny_labelled(40, seed=1)
    for kind in ("gan", "labelled-only"):
        r = improved.run_semisup(0, {**sizes, "ssl_steps": 2, "ssl_eval_every": 2}, tr, te, kind)
        assert 0 <= r["accuracy"] <= 1 and r["curve"]["step"] == [2]


def test_historical_averaging_turns_the_papers_orbit_into_convergence():
    # guards against: a penalty with the wrong sign or a mean that moves with theta (deterministic, float64)
    plain = improved.averaging_game(0.0, steps=3000)
    averaged = improved.averaging_game(0.1, steps=3000)
    d = lambda tr: np.hypot(tr[:, 0] - 1, tr[:, 1] - 1)        # noqa: E731
    assert d(plain)[-1] > d(plain)[0] and d(averaged)[-1] < 0.5 * d(averaged)[0]


def test_feature_matching_and_the_new_layers_run_under_autocast_as_the_fast_path_runs_them():
    # guards against: D's features run outside the fast path's autocast on a GPU (bf16 fakes into fp32 weights:
    # a dtype error), and VBN statistics m2 - mu^2 taken in bf16 (negative variances: NaN). bf16 autocast on
    # the CPU stands in for the GPU's here.
    from gan_utils.fast import FastModule, FastPlan

    torch.manual_seed(0)
    plan = FastPlan(channels_last=True, autocast_dtype="bfloat16")
    G = DCGANGenerator(16, 1, 32, 8, norm="virtual", n_ref=8)
    D = DCGANDiscriminator(1, 32, 8, minibatch="discrimination", mbd_features=8)
    Gf, Df = FastModule(G, plan, "cpu"), FastModule(D, plan, "cpu")
    cfg = TrainConfig.preset("feature-matching", latent_dim=16, real_label=0.9)
    opt_g, opt_d = make_optimizers(G, D, cfg)
    fake = Gf(torch.randn(8, 16))
    assert fake.dtype == torch.bfloat16 and torch.isfinite(fake).all()
    real = torch.rand(8, 1, 32, 32) * 2 - 1
    d_out = d_step(Df, real, fake, opt_d, cfg)
    g_out = g_step(Df, fake, opt_g, cfg, G, real=real)
    assert torch.isfinite(d_out["loss_D"]) and torch.isfinite(g_out["loss_G"])
    vbn = VirtualBatchNorm(3, n_ref=4)
    h = (1000 + 1e-3 * torch.randn(9, 3, 2, 2)).bfloat16()          # a large mean, a tiny spread
    assert torch.isfinite(vbn(h)).all() and vbn(h).dtype == torch.bfloat16
