"""gan_utils.lessons.toys (notebook 02): each test names the bug it guards against."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gan_utils.lessons import theory, toys  # noqa: E402
from gan_utils.metrics import mode_coverage  # noqa: E402

TINY = dict(hidden=16, depth=2, latent_dim=2, batch_size=64, n_samples=200, res=12, progress=False)


@pytest.fixture(scope="module")
def ring_runs():
    """Two variants, 12 steps each, on ring8: enough to exercise every code path."""
    x, centers, std = toys.toy_data("ring8", 2000, seed=0)
    return {loss: toys.train_toy(loss, x, centers=centers, std=std, data_name="ring8", steps=12,
                                 sample_every=4, **TINY)
            for loss in ("bce-ns", "wgan-gp")}


def test_grid_points_are_in_image_layout():
    # guards against: a transposed field (contourf(xs, xs, Z) wants rows = y, columns = x)
    pts, xs = toys.grid_points_2d(2.0, 5)
    assert pts.shape == (25, 2) and np.allclose(xs, np.linspace(-2, 2, 5))
    grid = pts.view(5, 5, 2)
    for i in range(5):
        for j in range(5):
            assert torch.allclose(grid[i, j], torch.tensor([xs[j], xs[i]], dtype=torch.float32))


def test_d_field_is_a_probability_for_bce_and_a_raw_score_for_wgan():
    # guards against: drawing logits as if they were D(x), or squashing a critic through a sigmoid
    D = toys.MLPDiscriminator((2,), 8, 1)
    pts, _ = toys.grid_points_2d(3.0, 7)
    with torch.no_grad():
        raw = D(pts).double().numpy()
    assert np.allclose(toys.d_field(D, pts, "bce-ns"), 1 / (1 + np.exp(-raw)), atol=1e-6)
    assert np.allclose(toys.d_field(D, pts, "wgan-gp", shape=(7, 7)), raw.reshape(7, 7), atol=1e-6)
    assert D.training, "d_field must restore train mode"


def test_kde_is_a_density_and_one_sample_gives_one_gaussian():
    # guards against: forgetting 1/n or 1/h (the D* of notebook 02 would then be wrong everywhere)
    x = np.linspace(-10, 10, 4001)
    assert np.allclose(toys.kde_1d(np.array([1.5]), x, 0.7), theory.gaussian_pdf(x, 1.5, 0.7))
    s = np.random.default_rng(0).normal(0, 1, 3000)
    p = toys.kde_1d(s, x)                                   # Silverman bandwidth
    assert theory.integrate(p, x[1] - x[0]) == pytest.approx(1.0, abs=1e-6)
    assert np.abs(p - theory.gaussian_pdf(x, 0, 1)).max() < 0.03


def test_fit_discriminator_approaches_d_star():
    # guards against: a D-only fit that does not converge to p_data / (p_data + p_g) (section 3's claim)
    g = torch.Generator().manual_seed(0)
    real = toys.gaussian_1d(5000, mean=1.0, std=1.0, generator=g)
    fake = torch.randn(5000, 1, generator=g) - 1.0
    D = toys.fit_discriminator(real, fake, steps=300, hidden=32, depth=2)
    xs = np.linspace(-2.5, 2.5, 101)
    with torch.no_grad():
        d = torch.sigmoid(D(torch.tensor(xs, dtype=torch.float32).view(-1, 1))).numpy()
    d_star = theory.optimal_discriminator(theory.gaussian_pdf(xs, 1, 1), theory.gaussian_pdf(xs, -1, 1))
    assert np.abs(d - d_star).mean() < 0.06


def test_snapshots_steps_and_coverage(ring_runs):
    # guards against: a missing first/last snapshot, or coverage computed on other samples than stored
    for run in ring_runs.values():
        assert [s["step"] for s in run.snapshots] == [0, 4, 8, 12]
        for s in run.snapshots:
            assert s["samples"].shape == (200, 2) and s["field"].shape == (12, 12)
            assert s["coverage"] == mode_coverage(s["samples"], run.centers, run.std)
        assert all("coverage_ema" in s for s in run.snapshots[1:])
        assert run.final == run.snapshots[-1]["coverage"]
        assert run.final_ema == mode_coverage(run.ema_samples, run.centers, run.std)
        assert run.seconds > 0 and run.cpu_seconds > 0 and len(run.history["loss_D"]) == 12


def test_all_variants_start_from_the_same_generator(ring_runs):
    # guards against: an unfair comparison where each loss gets other initial weights or other noise
    a, b = ring_runs["bce-ns"].snapshots[0]["samples"], ring_runs["wgan-gp"].snapshots[0]["samples"]
    assert torch.equal(a, b)


def test_same_seed_same_run():
    # guards against: hidden unseeded randomness (the notebook's numbers must repeat on CPU)
    x, c, s = toys.toy_data("grid25", 1000, seed=1)
    r1, r2 = (toys.train_toy("bce-ns", x, centers=c, std=s, steps=6, sample_every=3, seed=3, **TINY) for _ in range(2))
    assert torch.equal(r1.snapshots[-1]["samples"], r2.snapshots[-1]["samples"])
    assert np.array_equal(r1.snapshots[-1]["field"], r2.snapshots[-1]["field"])


def test_standardised_training_reports_samples_in_data_coordinates():
    # guards against: plotting/scoring the generator in the standardised space it was trained in
    g = torch.Generator().manual_seed(0)
    x = 100.0 + 5.0 * torch.randn(2000, 2, generator=g)      # far from the origin, wide
    run = toys.train_toy("bce-ns", x, steps=2, sample_every=1, **TINY)
    assert abs(float(run.snapshots[0]["samples"].mean()) - 100.0) < 10.0
    assert run.config["scale"] == pytest.approx(float(x.std()))
    off = toys.train_toy("bce-ns", x, steps=2, sample_every=1, standardise=False, **TINY)
    assert float(off.snapshots[0]["samples"].abs().mean()) < 10.0


def test_one_d_runs_record_d_on_the_grid():
    x_grid = np.linspace(-5, 5, 51)
    run = toys.train_toy("bce-ns", toys.mixture_1d(1000), steps=4, sample_every=2, x_grid=x_grid, **TINY)
    assert run.final is None and np.array_equal(run.grid["x"], x_grid)       # no modes to score in 1-D
    assert all(s["field"].shape == (51,) and ((s["field"] >= 0) & (s["field"] <= 1)).all() for s in run.snapshots)
    gaps = toys.d_star_gap(run, toys.mixture_1d_pdf)
    assert gaps.shape == (3,) and np.all((gaps >= 0) & (gaps <= 1))
    fig = toys.plot_1d_snapshots(run, toys.mixture_1d_pdf, n_panels=3)
    assert all(ax.get_title() and ax.get_xlabel() for ax in fig.axes)
    plt.close("all")


def test_mode_shares_are_fractions_of_all_samples(ring_runs):
    # guards against: a mode-hopping map whose colours are not comparable between snapshots
    run = ring_runs["wgan-gp"]
    steps, shares = toys.mode_shares(run)
    assert list(steps) == [0, 4, 8, 12] and shares.shape == (8, len(run.snapshots))
    assert np.allclose(shares.sum(0), 1.0)                   # every sample has a nearest mode
    nearest = torch.cdist(run.snapshots[-1]["samples"], run.centers).argmin(1)
    assert np.allclose(shares[:, -1], np.bincount(nearest.numpy(), minlength=8) / len(nearest))
    _, hq = toys.mode_shares(run, high_quality_only=True)
    assert np.allclose(hq.sum(0), [s["coverage"].high_quality for s in run.snapshots])


def test_figures_and_table(ring_runs):
    # guards against: figures without titles/labels (a course convention) and a table missing a run
    runs = list(ring_runs.values())
    fig = toys.plot_field_grid(runs, n_cols=3)
    assert all(ax.get_title() for ax in fig.axes if ax.get_label() != "<colorbar>")
    fig = toys.plot_mode_shares(runs)
    panels = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(panels) == 2 and all(ax.get_title() for ax in panels)
    plt.close("all")
    table = toys.coverage_table(runs)
    assert table.count("\n") == 1 + len(runs)
    assert "non-saturating GAN" in table and "WGAN-GP" in table


def test_unknown_toy_and_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="ring8"):
        toys.toy_data("ring9", 10)
    with pytest.raises(ValueError, match=r"\(N, 1\) or \(N, 2\)"):
        toys.train_toy("bce-ns", torch.zeros(10, 3), steps=1)


def test_toy_mixtures_return_centres_and_std():
    x, c, s = toys.ring8(1000)
    assert x.shape == (1000, 2) and c.shape == (8, 2)
    assert torch.allclose(c.norm(dim=1), torch.full((8,), 2.0))
    x, c, s = toys.grid25(1000)
    assert x.shape == (1000, 2) and c.shape == (25, 2) and s == 0.05
    m = toys.mixture_1d(4000, generator=torch.Generator().manual_seed(0))
    assert abs(m.mean()) < 0.15 and (m > 0).float().mean().sub(0.5).abs() < 0.05


# ---------------------------------------------------------------- what the EMA generator averages over
def test_ema_weights_include_the_warm_up_of_train_EMA():
    # guards against: prose (or a helper) that assumes a constant decay of 0.999. With train.EMA's
    # warm-up d_t = min(0.999, (1 + t) / (10 + t)), the weights before step a have share
    # prod_{u=a..T} d_u after T updates; a constant 0.999 would give 0.999 ** (T - a + 1) instead.
    T, a = 3000, 2000
    want = math.prod((1 + u) / (10 + u) for u in range(a, T + 1))
    got = toys.ema_weight_before(T, a)
    assert got == pytest.approx(want, rel=1e-9)
    assert got < 0.05 < 0.999 ** (T - a + 1)                  # 2.6 %, not about a third
    assert toys.ema_weight_before(T, 0) == 0.0 and toys.ema_weight_before(T, T + 0) == pytest.approx(3001 / 3010)


def test_ema_summary_window_and_warm_up_end_match_the_class():
    # guards against: the warm-up formula of ema_warmup_end drifting from train.EMA's
    t_full = toys.ema_warmup_end(0.99)
    assert t_full == 890                                      # (1 + 890) / (10 + 890) = 0.99
    assert toys.ema_weight_before(t_full, t_full, decay=0.99) == pytest.approx(0.99, abs=1e-12)
    assert toys.ema_weight_before(t_full - 1, t_full - 1, decay=0.99) < 0.99
    s = toys.ema_summary(3000, recent=1000)
    assert s["decay_last"] == pytest.approx(3001 / 3010) and s["window"] == pytest.approx(3010 / 9)
    assert s["recent_share"] == pytest.approx(1 - toys.ema_weight_before(3000, 2001))
    short = toys.ema_summary(30, recent=1000)
    assert short["recent"] == 30 and short["recent_share"] == 1.0
    with pytest.raises(ValueError):
        toys.ema_weight_before(10, 11)
