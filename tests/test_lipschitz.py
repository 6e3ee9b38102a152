"""gan_utils.lessons.lipschitz (notebook 07): the 1-D curves, the Lipschitz diagnostics, the SN config, timing
and the FD tracker. Each test names the bug it guards against."""
import math

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn as nn

matplotlib.use("Agg")

from gan_utils.lessons import theory, lipschitz  # noqa: E402
from gan_utils.models import DCGANDiscriminator, DCGANGenerator  # noqa: E402
from gan_utils.losses import gradient_penalty  # noqa: E402
from gan_utils.train import TrainConfig, d_step  # noqa: E402

LOG2 = math.log(2)


# ---------------------------------------------------------------- 1-D: JSD against W1
def test_disjoint_uniforms_jsd_is_flat_at_log2_while_w1_keeps_its_slope():
    # guards against: a "JSD vs W1" figure that does not show the saturation it claims
    c = lipschitz.shift_curves([1.5, 2.0, 3.0, 5.0], kind="uniform")
    assert np.allclose(c["jsd"], LOG2, atol=1e-9)
    assert np.allclose(c["d_jsd"], 0.0, atol=1e-9)                 # no gradient at all
    assert np.allclose(c["w1"], c["shift"], atol=2e-3)             # W1 = shift
    assert np.allclose(c["d_w1"], 1.0, atol=1e-2)                  # slope 1 wherever they are


def test_gaussian_shift_curves_overlap_so_jsd_below_log2():
    # guards against: treating overlapping Gaussians as disjoint (JSD < log 2, W1 = shift exactly)
    c = lipschitz.shift_curves([0.5, 1.0, 2.0], kind="gaussian", width=1.0)
    assert np.all(c["jsd"] < LOG2) and np.all(np.diff(c["jsd"]) > 0)
    assert np.allclose(c["w1"], [0.5, 1.0, 2.0], atol=1e-6)
    with pytest.raises(ValueError):
        lipschitz.shift_curves([1.0], kind="cauchy")


@pytest.mark.parametrize("case", ["shifted", "mixture", "disjoint"])
def test_optimal_critic_attains_w1_and_is_1_lipschitz(case):
    # guards against: a sign error in the duality (f' = sign(F_p - F_q) gives -W1)
    x, dx = theory.grid(-12.0, 12.0, 24_001)
    if case == "shifted":
        p, q = theory.gaussian_pdf(x, -2, 0.3), theory.gaussian_pdf(x, 2, 0.3)
    elif case == "mixture":
        p = 0.5 * theory.gaussian_pdf(x, -2, 0.5) + 0.5 * theory.gaussian_pdf(x, 3, 1.0)
        q = theory.gaussian_pdf(x, 0, 1)
    else:
        p = theory.normalise(theory.uniform_pdf(x, 0, 1), dx)
        q = theory.normalise(theory.uniform_pdf(x, 3, 4), dx)
    f = lipschitz.optimal_critic_1d(p, q, dx)
    gap = theory.integrate(p * f, dx) - theory.integrate(q * f, dx)
    assert abs(gap - theory.wasserstein1_1d(p, q, dx)) < 1e-6
    assert np.abs(np.diff(f) / dx).max() <= 1 + 1e-9
    # any other 1-Lipschitz critic does no better (duality: a lower bound)
    for g in (x, -x, np.tanh(x), np.abs(x - 1)):
        assert theory.integrate(p * g, dx) - theory.integrate(q * g, dx) <= gap + 1e-9


def test_gp_critic_1d_estimates_w1_and_bce_discriminator_saturates():
    # guards against: the 1-D demo losing its point (critic slope ~1 between the modes, D flat)
    g = torch.Generator().manual_seed(0)
    real = -2 + 0.3 * torch.randn(2000, 1, generator=g)
    fake = 2 + 0.3 * torch.randn(2000, 1, generator=g)
    f = lipschitz.fit_critic_1d(real, fake, "wgan-gp", steps=200, seed=0)
    est = (f(real).mean() - f(fake).mean()).item()
    # W1 = 4, but the penalty is soft: slope k maximises 4k - 10 (k - 1)^2 at k = 1.2, so ~4.8
    assert abs(est - 4.8) < 0.4, est
    d = lipschitz.fit_critic_1d(real, fake, "bce", steps=200, seed=0)
    _, slope_f = lipschitz.values_and_slopes(f, fake)
    logit, _ = lipschitz.values_and_slopes(d, fake)
    assert np.median(np.abs(slope_f)) > 0.5                       # the critic still points the way
    assert np.median(1 / (1 + np.exp(-logit))) < 0.05             # D(fake) ~ 0: saturated
    with pytest.raises(ValueError):
        lipschitz.fit_critic_1d(real, fake, "hinge")


def test_clip_critic_1d_weights_stay_clipped():
    # guards against: clipping before the step (weights leave [-c, c])
    real, fake = torch.randn(200, 1) - 2, torch.randn(200, 1) + 2
    f = lipschitz.fit_critic_1d(real, fake, "wgan-clip", steps=20)
    assert max(p.abs().max().item() for p in f.parameters()) <= 0.01 + 1e-9


# ---------------------------------------------------------------- Lipschitz diagnostics
def _dense_matrix(conv, in_shape):
    n = int(np.prod(in_shape))
    eye = torch.eye(n, dtype=torch.float64).view(n, *in_shape)
    out = nn.functional.conv2d(eye, conv.weight.detach().double(), None, conv.stride, conv.padding)
    return out.flatten(1).T                                       # (out_dim, in_dim)


@pytest.mark.parametrize("k, s, p, size", [(4, 2, 1, 8), (3, 1, 1, 6), (4, 1, 0, 4), (5, 2, 2, 7)])
def test_conv_operator_norm_matches_the_dense_matrix(k, s, p, size):
    # guards against: a wrong adjoint (conv_transpose padding / output size) in the power iteration
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, k, s, p)
    want = torch.linalg.matrix_norm(_dense_matrix(conv, (2, size, size)), ord=2).item()
    got = lipschitz.conv_operator_norm(conv, (2, size, size), n_iters=500)
    assert got == pytest.approx(want, rel=1e-4)


def test_spectral_norm_of_the_reshaped_kernel_is_not_the_conv_operator_norm():
    # guards against: claiming a spectrally normalised conv critic is exactly 1-Lipschitz
    torch.manual_seed(0)
    D = DCGANDiscriminator(width=8, norm="spectral")
    for _ in range(20):                                           # let the power iteration converge
        D(torch.randn(2, 1, 32, 32))
    bound, norms = lipschitz.lipschitz_upper_bound(D, (1, 32, 32))
    reshaped = [torch.linalg.matrix_norm(w.flatten(1), ord=2).item() for w in lipschitz.effective_weights(D).values()]
    assert np.allclose(reshaped, 1.0, atol=2e-2)
    assert norms[0][1] > 1.2 and bound > 1.2                      # stride-2 4x4 convs overlap: norm > 1


def test_lipschitz_bound_holds_and_eval_leaves_spectral_norm_state_alone():
    # guards against: a "bound" below the measured gradient norms; reading weights stepping SN's u
    torch.manual_seed(0)
    D = DCGANDiscriminator(width=8, norm="none")
    bound, _ = lipschitz.lipschitz_upper_bound(D, (1, 32, 32))
    x = torch.randn(16, 1, 32, 32)
    assert lipschitz.input_gradient_norms(D, x).max().item() <= bound * (1 + 1e-5)
    S = DCGANDiscriminator(width=8, norm="spectral").train()
    u = S.net[0].parametrizations.weight[0]._u.clone()
    lipschitz.effective_weights(S)
    lipschitz.lipschitz_upper_bound(S, (1, 32, 32))
    lipschitz.input_gradient_norms(S, x)
    assert torch.equal(u, S.net[0].parametrizations.weight[0]._u) and S.training


def test_input_gradient_norms_of_a_linear_critic():
    # guards against: a per-pixel norm where the per-sample one is meant
    lin = nn.Linear(12, 1)
    critic = lambda x: lin(x.flatten(1)).view(-1)  # noqa: E731
    critic_mod = nn.Module()
    critic_mod.forward = critic
    norms = lipschitz.input_gradient_norms(critic_mod, torch.randn(5, 3, 2, 2))
    assert torch.allclose(norms, lin.weight.norm().expand(5))


def test_weight_histograms_show_the_share_at_the_bound():
    import matplotlib.pyplot as plt

    D = DCGANDiscriminator(width=8, norm="none")
    with torch.no_grad():
        for p in D.parameters():
            p.clamp_(-0.01, 0.01)
    axes = lipschitz.plot_weight_histograms({"clipped": D, "free": DCGANDiscriminator(width=8, norm="none")},
                                       clip_value=0.01)
    assert "at |w| >= 0.99 c" in axes[0].get_title() and "max |w|" in axes[1].get_title()
    plt.close("all")


# ---------------------------------------------------------------- the comparison
def test_the_sn_config_neither_clips_nor_penalises():
    # guards against: the SN critic silently clipped (wgan-clip preset) or paying for a penalty
    cfg = lipschitz.configs(batch_size=8)["sn"]
    assert cfg.loss == "wgan-sn" and cfg.optimizer == "adam" and cfg.n_critic == 5
    assert cfg.lr_d == 1e-4 and cfg.betas_d == (0.0, 0.9) and cfg.batch_size == 8
    D = nn.Sequential(nn.Flatten(), nn.Linear(4, 1), nn.Flatten(0))
    with torch.no_grad():
        D[1].weight.fill_(0.5)
    opt = torch.optim.Adam(D.parameters(), lr=1e-4)
    out = d_step(D, torch.randn(8, 4), torch.randn(8, 4), opt, cfg)
    assert D[1].weight.abs().min().item() > 0.4 and "gp" not in out and "W_estimate" in out
    cfgs = lipschitz.configs(steps=3)
    assert {k: c.loss for k, c in cfgs.items()} == {"clip": "wgan-clip", "gp": "wgan-gp", "sn": "wgan-sn"}
    assert cfgs["clip"].clip_value == 0.01 and cfgs["clip"].optimizer == "rmsprop" and cfgs["gp"].gp_weight == 10


def test_wgan_sn_refuses_a_critic_without_spectral_norm():
    # guards against: the unconstrained Wasserstein loss on a plain critic, whose scores then grow
    # without bound (no clipping, no penalty, nothing Lipschitz)
    from gan_utils.models import MLPDiscriminator, has_spectral_norm
    from gan_utils.train import check_setup

    cfg = TrainConfig.preset("wgan-sn", latent_dim=8)
    G = DCGANGenerator(latent_dim=8, width=4)
    real = torch.rand(4, 1, 32, 32) * 2 - 1
    for norm in ("layer", "none", "batch"):
        D = DCGANDiscriminator(width=4, norm=norm)
        assert not has_spectral_norm(D)
        with pytest.raises(ValueError, match="spectrally normalised"):
            check_setup(G, D, real, cfg)
    D_sn = DCGANDiscriminator(width=4, norm="spectral")
    assert has_spectral_norm(D_sn) and has_spectral_norm(MLPDiscriminator((2,), spectral=True))
    assert has_spectral_norm(torch.nn.utils.spectral_norm(nn.Linear(3, 1)))      # the older hook API
    check_setup(G, D_sn, real, cfg)                                               # accepted


def test_seconds_per_generator_step_leaves_models_untouched():
    # guards against: the timing run training the models the notebook goes on to use
    G = DCGANGenerator(latent_dim=8, width=4)
    D = DCGANDiscriminator(width=4, norm="none")
    before = [p.clone() for p in list(G.parameters()) + list(D.parameters())]
    cfg = TrainConfig.preset("wgan-gp", latent_dim=8, batch_size=4, n_critic=2)
    t = lipschitz.seconds_per_generator_step(G, D, cfg, torch.rand(4, 1, 32, 32) * 2 - 1, n_steps=2)
    assert t > 0
    both = lipschitz.compare_step_times({"gp": (G, D, cfg), "clip": (G, D, lipschitz.configs(latent_dim=8, n_critic=2)["clip"])},
                                   torch.rand(4, 1, 32, 32) * 2 - 1, n_steps=2)
    assert set(both) == {"gp", "clip"} and all(v["wall"] > 0 and v["cpu"] > 0 for v in both.values())
    assert all(torch.equal(a, b) for a, b in zip(before, list(G.parameters()) + list(D.parameters())))


def test_fd_tracker_evaluates_on_schedule_once_each():
    # guards against: duplicate evaluations (callback fires at log, sample and last steps)
    calls = []

    def fake_fid(G, dataset, **kw):
        calls.append(kw["n"])
        return 10.0 - len(calls)

    tr = lipschitz.FDTracker(every=4, last=10, n=7, fid_fn=fake_fid)
    for step in (2, 4, 4, 6, 8, 8, 10, 10):
        tr({"step": step, "G_ema": None})
    assert list(tr.steps) == [4, 8, 10] and calls == [7, 7, 7]
    assert list(tr.fds) == [9.0, 8.0, 7.0]


def test_w_estimate_window_mean_and_spearman():
    hist = {"step": list(range(1, 11)), "W_estimate": [float(i) for i in range(1, 11)]}
    assert lipschitz.w_estimate_at(hist, [4, 10], window=2).tolist() == [3.5, 9.5]
    assert lipschitz.spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert lipschitz.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(lipschitz.spearman([1, 2], [1, 2]))
    assert lipschitz.spearman([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486832980505138)  # ties: average ranks


def test_plot_w_and_fd_draws_every_method_and_the_scatter():
    # guards against: the comparison figure breaking on step 0 (no W estimate yet) or a missing raw FD
    import matplotlib.pyplot as plt

    runs = {}
    for k, m in enumerate(lipschitz.METHODS):
        hist = {"step": list(range(1, 21)), "W_estimate": list(np.linspace(5, 1, 20) * (k + 1))}
        tr = lipschitz.FDTracker(every=5, last=20, fid_fn=lambda G, ds, **kw: 0.0, raw=None if k == 0 else object())
        tr.values = [(s, 100.0 - s) for s in (0, 5, 10, 15, 20)]
        if k:
            tr.values_raw = [(s, 90.0 - s) for s in (0, 5, 10, 15, 20)]
        runs[m] = (hist, tr)
    axes = lipschitz.plot_w_and_fd(runs, window=3, protocol="FD-classifier test")
    labels = [t.get_text() for t in axes[3].get_legend().get_texts()]
    assert len(labels) == 3 and all("Spearman +1.00" in t for t in labels), labels
    plt.close("all")


def test_train_critic_1d_is_seeded_leaves_the_global_stream_alone_and_refuses_non_scalar_losses():
    # guards against: exercise 4 of notebook 07 giving different verdicts on the same answer, moving
    # the notebook's random stream, or training on a loss that is not one number
    real, fake = torch.randn(200, 1) - 2, torch.randn(200, 1) + 2

    def objective(f, r, q):
        return f(q).mean() - f(r).mean() + 10 * gradient_penalty(f, r, q)

    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    a = lipschitz.train_critic_1d(real, fake, objective, steps=30, anneal=10, seed=1)
    assert torch.equal(torch.rand(2), expected)
    b = lipschitz.train_critic_1d(real, fake, objective, steps=30, anneal=10, seed=1)
    x = torch.linspace(-3, 3, 7).view(-1, 1)
    with torch.no_grad():
        assert torch.equal(a(x), b(x)) and a(x).shape == (7,)
    with pytest.raises(ValueError, match="one number"):
        lipschitz.train_critic_1d(real, fake, lambda f, r, q: f(r), steps=2)
