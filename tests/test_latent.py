"""gan_utils.lessons.latent: linear and spherical interpolation of latent codes, and the latent explorer
(notebook 04). Each test names the bug it guards against."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gan_utils.lessons import latent  # noqa: E402
from gan_utils.models import DCGANGenerator  # noqa: E402


def _pair(d=100, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(d, generator=g, dtype=dtype), torch.randn(d, generator=g, dtype=dtype)


@pytest.mark.parametrize("fn", [latent.lerp, latent.slerp])
def test_end_points_are_the_codes(fn):
    # guards against: t running backwards, or an off-by-one in the weights
    z0, z1 = _pair()
    assert torch.allclose(fn(z0, z1, 0.0), z0, atol=1e-12)
    assert torch.allclose(fn(z0, z1, 1.0), z1, atol=1e-12)


def test_slerp_keeps_the_norm_of_equal_norm_codes_and_moves_at_constant_angle():
    # guards against: a slerp that is a renormalised lerp (right norm, wrong speed) or a plain lerp
    z0, z1 = _pair()
    z1 = z1 * (z0.norm() / z1.norm())
    path = latent.slerp(z0, z1, torch.linspace(0, 1, 11, dtype=torch.float64))       # (11, d)
    assert torch.allclose(path.norm(dim=1), z0.norm().expand(11), rtol=1e-10)
    cos = torch.nn.functional.cosine_similarity(path[:-1], path[1:], dim=1)
    angles = torch.arccos(cos.clamp(-1, 1))
    assert torch.allclose(angles, angles.mean().expand_as(angles), atol=1e-7)


def test_lerp_midpoint_of_independent_codes_dips_inside_the_prior_shell():
    # guards against: the notebook's claim |lerp midpoint| ~ sqrt(d / 2) being wrong
    d = 400
    g = torch.Generator().manual_seed(1)
    z0, z1 = torch.randn(64, d, generator=g), torch.randn(64, d, generator=g)
    mid = latent.lerp(z0, z1, 0.5).norm(dim=1)
    assert abs(mid.mean().item() - math.sqrt(d / 2)) < 0.05 * math.sqrt(d / 2)
    assert (latent.slerp(z0, z1, 0.5).norm(dim=1) > 0.9 * math.sqrt(d)).all()


def test_slerp_of_parallel_or_opposite_codes_is_finite():
    # guards against: 0/0 = nan when sin(omega) = 0 (identical, scaled or opposite codes)
    z0, _ = _pair()
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    for z1 in (z0.clone(), 3 * z0, -z0):
        out = latent.slerp(z0, z1, t)
        assert torch.isfinite(out).all()
        assert torch.allclose(out, latent.lerp(z0, z1, t), atol=1e-9)


def test_slerp_float32_nearly_parallel_codes_are_finite():
    # guards against: arccos of a cosine rounded to 1.0000001 (nan) in float32
    z0 = torch.randn(100)
    z1 = z0 + 1e-7 * torch.randn(100)
    assert torch.isfinite(latent.slerp(z0, z1, torch.linspace(0, 1, 7))).all()


def test_shapes_scalar_vector_and_batch():
    # guards against: broadcasting t against the latent dimension instead of adding a path dimension
    z0, z1 = torch.randn(100), torch.randn(100)
    b0, b1 = torch.randn(3, 100), torch.randn(3, 100)
    t = torch.linspace(0, 1, 7)
    for fn in (latent.lerp, latent.slerp):
        assert fn(z0, z1, 0.3).shape == (100,)
        assert fn(z0, z1, t).shape == (7, 100)
        assert fn(b0, b1, 0.3).shape == (3, 100)
        assert fn(b0, b1, t).shape == (7, 3, 100)
    # each pair of a batch is interpolated on its own
    batch = latent.slerp(b0, b1, t)
    for i in range(3):
        assert torch.allclose(batch[:, i], latent.slerp(b0[i], b1[i], t), atol=1e-6)


def test_bad_arguments_raise_clear_errors():
    z = torch.randn(10)
    with pytest.raises(ValueError, match="same shape"):
        latent.lerp(z, torch.randn(11), 0.5)
    with pytest.raises(ValueError, match="method"):
        latent.interpolate(z, z, 5, method="cubic")
    with pytest.raises(ValueError, match="at least 2"):
        latent.interpolate(z, z, 1)
    with pytest.raises(ValueError, match="1-D"):
        latent.slerp(z, z, torch.zeros(2, 2))


def test_interpolate_images_uses_eval_mode_and_restores_the_mode():
    # guards against: BatchNorm in train mode making each image depend on the rest of the path,
    # and a helper that leaves G in eval mode for the training loop
    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=16, channels=1, image_size=32, width=4)
    G.train()
    z0, z1 = torch.randn(16), torch.randn(16)
    imgs = latent.interpolate_images(G, z0, z1, n=5, method="slerp")
    assert imgs.shape == (5, 1, 32, 32) and G.training
    G.eval()
    with torch.no_grad():
        alone = G(latent.slerp(z0, z1, 0.5).unsqueeze(0))
    assert torch.allclose(imgs[2], alone[0], atol=1e-5)
    rows = latent.interpolate_images(G, torch.randn(2, 16), torch.randn(2, 16), n=4)
    assert rows.shape == (8, 1, 32, 32)


def test_latent_explorer_draws_a_labelled_figure_for_both_methods():
    # guards against: the static fallback of notebook 04 crashing, or figures without titles/labels
    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=16, channels=1, image_size=32, width=4)
    draw = latent.latent_explorer(G, n_path=5)
    for method in latent.METHODS:
        fig = draw(seed_a=1, seed_b=2, t=0.3, method=method)
        assert all(ax.get_title() for ax in fig.axes)
        norm_ax = fig.axes[-1]
        assert norm_ax.get_xlabel() and norm_ax.get_ylabel()
        plt.close(fig)
    with pytest.raises(ValueError, match="method"):
        draw(method="cubic")


# ---------------------------------------------------------------- the EMA generator (section 4)
def test_ema_decays_follow_the_warm_up_that_notebook_04_states():
    # guards against: notebook 04's description of train's EMA (its warm-up formula, its numbers)
    # drifting from gan_utils.train.EMA
    import numpy as np

    d = latent.ema_decays(10_000, 0.999)
    t = np.arange(1, 10_001)
    assert np.allclose(d, np.minimum(0.999, (1 + t) / (10 + t)), rtol=0, atol=1e-12)
    assert int(np.argmax(d >= 0.999)) + 1 == 8990          # the first update at the full decay


def test_ema_weights_match_a_direct_simulation_of_the_ema_class():
    # guards against: an off-by-one between "the generator of step s" and the decay applied with it
    import numpy as np
    import torch.nn as nn

    from gan_utils.train import EMA

    T = 40

    class OneHot(nn.Module):                                # parameter = indicator of "the step"
        def __init__(self):
            super().__init__()
            self.p = nn.Parameter(torch.zeros(T + 1, dtype=torch.float64))

    g = OneHot()
    with torch.no_grad():
        g.p[0] = 1.0                                        # the initial weights
    ema = EMA(g, 0.9)
    for s in range(1, T + 1):
        with torch.no_grad():
            g.p.zero_()
            g.p[s] = 1.0                                    # the generator after step s
        ema.update(g)
    w = latent.ema_weights(latent.ema_decays(T, 0.9))
    assert np.allclose(w, ema.model.p.detach().numpy(), atol=1e-12) and abs(w.sum() - 1) < 1e-12


def test_ema_summary_of_a_3000_step_run_is_not_the_rule_of_thumb():
    # guards against: the "decay 0.999 averages the last 1000 steps" error the notebook used to make
    s = latent.ema_summary(3000, 0.999)
    assert 300 < s["window"] < 400 and s["share_older"] < 0.05 < 0.3 < s["share_older_constant"]


def test_recompute_batchnorm_stats_averages_the_models_own_batch_statistics():
    # guards against: statistics left from the raw G (no reset), or an exponential average over the
    # recalibration batches (momentum left at 0.1) instead of their plain mean
    G = DCGANGenerator(16, 1, 32, width=8)
    name, bn = next((n, m) for n, m in G.named_modules() if isinstance(m, torch.nn.BatchNorm2d))
    with torch.no_grad():
        bn.running_mean.fill_(5.0)                          # stale statistics "copied from another G"
    before = {k: v.clone() for k, v in G.state_dict().items()}
    G2 = latent.recompute_batchnorm_stats(G, 16, n_batches=3, batch_size=8, seed=0)
    assert not G2.training and all(torch.equal(before[k], v) for k, v in G.state_dict().items())  # G untouched
    bn2 = dict(G2.named_modules())[name]
    assert bn2.momentum == bn.momentum                      # restored after the recalibration
    # the plain mean over the same three batches of that layer's per-channel input means
    g, means = torch.Generator().manual_seed(0), []
    hook = bn.register_forward_pre_hook(lambda m, inp: means.append(inp[0].mean(dim=(0, 2, 3))))
    G.train()
    with torch.no_grad():
        for _ in range(3):
            G(torch.randn(8, 16, generator=g))
    hook.remove()
    assert torch.allclose(bn2.running_mean, torch.stack(means).mean(0), atol=1e-6)


def test_notebook_04_prose_quotes_the_ema_numbers_that_train_produces():
    # guards against: the prose of notebook 04's section 4 drifting from gan_utils.train.EMA (issue 16,
    # item 1: it once said "averages roughly the last 1000 steps"); its numbers are printed by a cell,
    # and this test keeps the sentences that quote them equal to what ema_summary measures today
    import json
    import re
    from pathlib import Path

    cells = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / "04_dcgan.ipynb").read_text())["cells"]
    src = ["".join(c["source"]) for c in cells]
    steps = int(re.search(r"^STEPS = \d+ if SMOKE else (\d+)", next(s for s in src if s.startswith("# parameters")),
                          re.M).group(1))
    prose = next(s for s in src if s.startswith("Read the row of this notebook's run"))
    warm_up = next(s for s in src if s.startswith("## 4 · The EMA generator"))
    s = latent.ema_summary(steps, 0.999, old=1000)
    d = latent.ema_decays(10_000, 0.999)
    first_full = int((d >= 0.999).argmax()) + 1
    for quoted in (f"$T = {steps}$", f"about {s['decay_last']:.3f}", f"horizon of {s['window']:.0f} steps",
                   f"is {s['mean_age']:.0f} steps", f"{100 * s['share_older']:.1f} % of its weight comes from before "
                   f"step {steps - 1000}", f"{100 * s['share_older_constant']:.1f} %"):
        assert quoted in prose, f"notebook 04 section 4 should say {quoted!r} (from gan_utils.train.EMA)"
    assert f"starts near {d[0]:.2f}" in warm_up
    assert f"about {round(first_full, -3):,.0f} steps".replace(",", " ") in warm_up
