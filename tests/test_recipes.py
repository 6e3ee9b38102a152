"""gan_utils.lessons.recipes (notebook 10): the Dirac GAN helpers, the round-robin comparison, and the
new options through the CLI and the config loader. Each test names the bug it guards against."""
import numpy as np
import pytest
import torch

from gan_utils.data import synthetic_images
from gan_utils.lessons import recipes


def test_closed_form_dirac_field_equals_the_autograd_one():
    # guards against: a typo in the fast numpy field that the trajectories and arrow plots use
    T, P = np.meshgrid(np.linspace(-2, 2, 7), np.linspace(-2, 2, 7) + 0.01)
    for method in recipes.DIRAC_METHODS:
        for gamma in (0.3, 2.0):
            a = recipes.dirac_field(T, P, method, gamma=gamma)
            b = recipes.dirac_field_np(T, P, method, gamma=gamma)
            assert np.allclose(a, b, atol=1e-12), method


@pytest.mark.parametrize("method", ["gan", "r1", "consensus"])
def test_eigenvalue_closed_forms_match_the_autograd_jacobian(method):
    for gamma in (0.1, 0.5, 1.0, 4.0):
        ev = np.sort_complex(np.linalg.eigvals(recipes.dirac_jacobian(method, gamma=gamma)))
        assert np.allclose(ev, np.sort_complex(recipes.dirac_eigenvalues(method, gamma)), atol=1e-10)


def test_alternating_step_uses_partial_derivatives():
    # guards against: D's gradient in the alternating step taken as a *total* derivative through G's new
    # theta (autograd does that by default): it adds a spurious damping, and the plain GAN would seem to
    # converge. With partial derivatives the step's Jacobian has determinant exactly 1: a closed orbit.
    J = recipes.dirac_update_jacobian("gan", h=0.1, scheme="alt")
    assert np.linalg.det(J) == pytest.approx(1.0, abs=1e-12)
    assert recipes.spectral_radius(J) == pytest.approx(1.0, abs=1e-12)
    assert recipes.spectral_radius(recipes.dirac_update_jacobian("gan", h=0.1, scheme="sim")) == pytest.approx(
        np.hypot(1, 0.05), abs=1e-12)                               # |1 + i a h| with a = 1/2


def test_measured_contraction_equals_the_spectral_radius_for_r1():
    traj = recipes.dirac_trajectory("r1", steps=1000, h=0.1, scheme="alt", gamma=0.6)
    rho = recipes.spectral_radius(recipes.dirac_update_jacobian("r1", 0.1, "alt", gamma=0.6))
    assert recipes.contraction_rate(traj, 500) == pytest.approx(rho, abs=1e-4)


def _tiny_data(n=256):
    return synthetic_images(n, channels=1, image_size=32, seed=0)


def test_probing_D_does_not_change_its_buffers():
    # guards against: watching D overfit (train-mode forward passes) updating BatchNorm statistics or
    # spectral norm's power iteration, so that looking would change the training run
    from gan_utils.models import DCGANDiscriminator

    for norm in ("batch", "spectral"):
        D = DCGANDiscriminator(1, 32, 8, norm=norm)
        before = {k: v.clone() for k, v in D.named_buffers()}
        out = recipes.d_outputs(D, _tiny_data(130).images, batch_size=64)
        assert out.shape == (128,)                                  # the last partial batch is dropped
        for k, v in D.named_buffers():
            assert torch.equal(v, before[k]), (norm, k)


def test_a_run_does_not_depend_on_how_the_arms_are_interleaved():
    # guards against: arms sharing torch's global random stream, so that one arm's result would change
    # with the chunk size or with which other arms it takes turns with
    data = _tiny_data()
    arm = recipes.ARMS["bce-ns+R1"]
    alone = recipes.ArmRun(arm, data, width=8, batch_size=32, seed=3)
    alone.train(4)
    a = recipes.ArmRun(arm, data, width=8, batch_size=32, seed=3)
    other = recipes.ArmRun(recipes.ARMS["hinge+SN"], data, width=8, batch_size=32, seed=3)
    recipes.run_round_robin([a, other], steps=4, chunk=1, progress=False)
    for p, q in zip(alone.G.parameters(), a.G.parameters()):
        assert torch.equal(p, q)
    assert a.seconds > 0 and len(a.snapshots) == 5                  # a snapshot at every chunk boundary


def test_equal_time_score_uses_the_last_snapshot_within_the_budget():
    data = _tiny_data()
    r = recipes.ArmRun(recipes.ARMS["bce-ns"], data, width=8, batch_size=32, seed=0)
    r.train(1)
    r.train(1)
    budget = r.snapshots[1][1]                                       # the time used after the first step
    assert r.snapshot_within(budget)[0] == 1
    assert r.snapshot_within(budget - 1e-6)[0] == 0
    assert r.snapshot_within(1e9)[0] == 2


def test_comparison_summary_is_mean_and_sample_std_over_seeds():
    # guards against: a spread computed over one seed, or the population std (ddof=0) reported as the spread
    rec = recipes.compare({"bce-ns": recipes.ARMS["bce-ns"]}, _tiny_data(), seeds=(0, 1), steps=2, chunk=1,
                          eval_every=2, width=8, batch_size=32, fd_n=64, equal_time=False, n_grid=4, progress=False)
    vals = [r["at_steps"]["fd"] for r in rec["runs"]["bce-ns"]]
    s = rec["summary"]["bce-ns"]["fd_at_steps"]
    assert s["values"] == vals and s["mean"] == pytest.approx(np.mean(vals))
    assert s["std"] == pytest.approx(np.std(vals, ddof=1))
    assert recipes.decode_u8(rec["runs"]["bce-ns"][0]["samples_u8"]).shape == (4, 32, 32)


def test_missing_record_gives_one_clear_error(tmp_path):
    from gan_utils.runtime import UserError

    with pytest.raises(UserError, match="record_recipes.py"):
        recipes.load_record(tmp_path / "nope.json")


def test_cli_passes_the_new_options_to_the_run():
    # guards against: a flag that argparse accepts but that never reaches TrainConfig
    from gan_utils import cli
    from gan_utils.config import RunConfig, resolve

    args = cli._parser().parse_args(["train", "--loss", "hinge", "--r1-gamma", "2.5", "--r1-every", "4",
                                     "--augment", "color,cutout", "--lr-d", "1e-4", "--lr-g", "5e-4"])
    rc = RunConfig.from_options(resolve({}, overrides=cli._options(args)))
    t = rc.train
    assert (t.loss, t.r1_gamma, t.r1_every, t.augment, t.lr_d, t.lr_g) == ("hinge", 2.5, 4, "color,cutout", 1e-4, 5e-4)
    assert rc.norm == "none"                                        # R1: no BatchNorm by default


def test_config_with_a_bad_r1_or_augment_value_is_refused():
    from gan_utils.config import resolve
    from gan_utils.runtime import ConfigError

    with pytest.raises(ConfigError, match="r1_gamma"):
        resolve({"r1_gamma": "1"})
    with pytest.raises(ConfigError, match="augment"):
        resolve({"augment": "flip"})


def test_r1_arm_is_trained_with_the_pilots_best_gamma():
    # guards against: the comparison training R1 with the gamma written in the library while the pilot recorded
    # beside it chose another one (the record would then claim a choice it did not make)
    pilot = {"arms": {f"R1 gamma={g:g}": {"overrides": {"r1_gamma": g, "r1_every": recipes.R1_EVERY}} for g in (0.5, 3.0)},
             "summary": {"R1 gamma=0.5": {"fd_at_steps": {"mean": 9.0}}, "R1 gamma=3": {"fd_at_steps": {"mean": 5.0}}}}
    rec = recipes.run_experiments(_tiny_data(), sizes={**recipes.SMOKE_SIZES, "steps": 1, "fd_n": 16}, only="full",
                                  record={"pilot": pilot}, progress=False)
    assert rec["full"]["arms"]["bce-ns+R1"]["overrides"]["r1_gamma"] == 3.0
    assert recipes.ARMS["bce-ns+R1"].overrides["r1_gamma"] == recipes.R1_GAMMA      # the library's arm is unchanged


# ---------------------------------------------------------------- Welch's t-test behind the prose's verdicts
@pytest.mark.parametrize("seed", range(6))
def test_welch_t_test_equals_scipys_unequal_variance_t_test(seed):
    # guards against: a hand-written Welch test that drifts from the textbook one (pooled variances, ddof 0,
    # a one-sided p or the wrong degrees of freedom), which would mislabel the notebook's comparisons
    import numpy as np
    from scipy import stats

    rng = np.random.default_rng(seed)
    na, nb = [(3, 3), (3, 5), (2, 7), (10, 4), (3, 3), (6, 6)][seed]
    a, b = rng.normal(40, 5, na), rng.normal(45 + seed, 1 + 3 * seed, nb)
    ours, ref = recipes.welch_t_test(a, b), stats.ttest_ind(a, b, equal_var=False)
    # float64 throughout: a few ulps of the closed forms, and of the incomplete beta function behind the p-value
    assert ours.t == pytest.approx(float(ref.statistic), rel=1e-12)
    if hasattr(ref, "df"):       # scipy >= 1.11 reports the degrees of freedom; the p-value below depends on them anyway
        assert ours.df == pytest.approx(float(ref.df), rel=1e-12)
    assert ours.p == pytest.approx(float(ref.pvalue), rel=1e-9)


def test_welch_t_test_refuses_samples_it_cannot_test():
    with pytest.raises(ValueError, match="at least 2"):
        recipes.welch_t_test([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="zero spread"):
        recipes.welch_t_test([3.0, 3.0], [3.0, 3.0, 3.0])


def test_a_weak_difference_of_three_seeds_is_worded_suggestive_not_supported():
    # guards against: the old rule "more than the two standard deviations together = supported", which called
    # LSGAN vs the plain D (Welch p = 0.057) a supported difference
    def entry(values):
        return recipes.stats(values)

    lsgan, plain = entry([37.5, 45.7, 51.8]), entry([53.5, 64.8, 72.2])      # means 45.0 vs 63.5, spread ~7 and ~9
    p = recipes.welch_t_test(lsgan["values"], plain["values"]).p
    assert recipes.P_SUPPORTED <= p < recipes.P_SUGGESTIVE
    sentence = recipes._versus("lsgan", "bce-ns-plain", lsgan, plain)
    assert "suggestive" in sentence and "support" not in sentence and recipes.fmt_p(p) in sentence
    strong = recipes._versus("lsgan", "bce-ns-plain", entry([10.0, 10.5, 11.0]), entry([30.0, 30.4, 31.0]))
    assert "these 3 seeds support" in strong
    weak = recipes._versus("lsgan", "bce-ns-plain", entry([10.0, 20.0, 30.0]), entry([12.0, 22.0, 31.0]))
    assert "not distinguished by 3 seeds" in weak


@pytest.mark.parametrize("method,gamma", [("gan", 0.0), ("r1", 0.6), ("r1", 3.0), ("consensus", 1.0)])
def test_both_alternating_orders_have_the_same_spectral_radius(method, gamma):
    # guards against: prose (or code) that ties the convergence argument to one order of the alternating
    # steps; gan_utils.train updates D first, notebook 10's trajectories move G first: AB and BA share eigenvalues
    for h in (0.05, 0.1, 0.5):
        g_first = recipes.dirac_update_jacobian(method, h, "alt", gamma=gamma)
        d_first = recipes.dirac_update_jacobian(method, h, "alt-d", gamma=gamma)
        assert not np.allclose(g_first, d_first)                                  # different steps ...
        assert np.allclose(np.sort_complex(np.linalg.eigvals(g_first)),
                           np.sort_complex(np.linalg.eigvals(d_first)), atol=1e-12)   # ... same spectrum
    traj = recipes.dirac_trajectory(method, steps=1000, h=0.1, scheme="alt-d", gamma=gamma)
    rho = recipes.spectral_radius(recipes.dirac_update_jacobian(method, 0.1, "alt-d", gamma=gamma))
    assert abs(recipes.contraction_rate(traj, 500) - rho) < 1e-3
