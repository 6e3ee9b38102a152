"""Unit tests of gan_utils.lessons.theory (notebook 01's numerics) and gan_utils.lessons.widgets' fallback rule.
Each test names the bug it guards against."""
import math

import numpy as np
import pytest
from scipy import stats

from gan_utils.lessons import theory as T
from gan_utils.lessons import widgets

X, DX = T.grid()
P_DATA = T.gaussian_pdf(X, 0.0, 1.0)
GAUSSIANS = [(0.0, 1.0), (0.5, 1.0), (2.0, 1.0), (0.0, 2.0), (3.0, 0.5), (-1.5, 1.7), (8.0, 1.0)]


# ---------------------------------------------------------------- grid and densities
def test_grid_spacing_is_exact_not_a_rounded_difference():
    # bug: dx = x[1] - x[0] carries a ~1e-11 relative rounding error that shows up in every integral
    x, dx = T.grid(-20.0, 20.0, 200_001)
    assert dx == 40.0 / 200_000
    assert abs(T.integrate(T.gaussian_pdf(x, 0.0, 1.0), dx) - 1.0) < 1e-13


@pytest.mark.parametrize("mean, std", GAUSSIANS)
def test_gaussian_pdf_is_a_normalised_density_and_matches_its_log(mean, std):
    # bug: a wrong normalising constant (sqrt(2 pi) sigma) makes every V and JSD slightly off
    p = T.gaussian_pdf(X, mean, std)
    assert abs(T.integrate(p, DX) - 1.0) < 1e-12
    np.testing.assert_allclose(T.gaussian_logpdf(X[::997], mean, std), stats.norm.logpdf(X[::997], mean, std),
                               rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- D*
def test_d_star_is_one_half_where_p_data_equals_p_g():
    # bug: D* = p_data / p_g (the ratio instead of the posterior) is 1, not 1/2, at the optimum
    d = T.optimal_discriminator(P_DATA, P_DATA)
    assert np.all(d == 0.5)


def test_d_star_is_one_half_not_nan_where_both_densities_vanish():
    # bug: 0/0 = nan in the tails poisons every integral that uses D*
    d = T.optimal_discriminator(np.array([0.0, 0.0, 1.0, 2.0]), np.array([0.0, 3.0, 0.0, 2.0]))
    np.testing.assert_array_equal(d, [0.5, 0.0, 1.0, 0.5])
    assert np.all(np.isfinite(T.optimal_logit(T.gaussian_pdf(X, -15, 0.1), T.gaussian_pdf(X, 15, 0.1))[X == 0]))


def test_d_star_is_the_posterior_probability_of_real_not_fake():
    # bug: swapping numerator and denominator gives D*(x) = p_g / (p_data + p_g) = 1 - D*
    p_g = T.gaussian_pdf(X, 2.0, 1.0)
    d = T.optimal_discriminator(P_DATA, p_g)
    assert d[np.searchsorted(X, -2.0)] > 0.9 and d[np.searchsorted(X, 4.0)] < 0.1


def test_optimal_logit_is_the_log_density_ratio_and_sigmoid_of_it_is_d_star():
    # bug: a logit of D* with the wrong sign or scale (the notation of gan_utils.losses is D = sigmoid(l))
    p_g = T.gaussian_pdf(X, 1.0, 1.3)
    l = T.optimal_logit(P_DATA, p_g)
    inner = np.abs(X) < 8
    np.testing.assert_allclose(l[inner], (T.gaussian_logpdf(X, 0, 1) - T.gaussian_logpdf(X, 1.0, 1.3))[inner],
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(1 / (1 + np.exp(-l[inner])), T.optimal_discriminator(P_DATA, p_g)[inner], rtol=1e-12)


@pytest.mark.parametrize("mean, std", [(1.0, 1.0), (0.0, 0.6), (2.5, 1.5)])
def test_d_star_maximises_v_any_perturbation_lowers_it(mean, std):
    # bug: a "D*" that is not the argmax (e.g. p_data / p_g clipped) would not bound V from above
    x, dx = T.grid(-12, 12, 20_001)
    p_d, p_g = T.gaussian_pdf(x, 0, 1), T.gaussian_pdf(x, mean, std)
    l_star = T.gaussian_logpdf(x, 0, 1) - T.gaussian_logpdf(x, mean, std)
    v_star = T.value_function(l_star, p_d, p_g, dx, logit=True)
    rng = np.random.default_rng(0)
    for _ in range(20):
        bump = rng.normal(0, 0.5) * np.exp(-0.5 * ((x - rng.uniform(-3, 3)) / rng.uniform(0.2, 2)) ** 2)
        assert T.value_function(l_star + bump, p_d, p_g, dx, logit=True) < v_star


# ---------------------------------------------------------------- V(D, G), C(G), JSD
@pytest.mark.parametrize("mean, std", GAUSSIANS)
def test_v_at_d_star_equals_minus_log4_plus_2_jsd(mean, std):
    # bug: any slip in the derivation C(G) = -log 4 + 2 JSD(p_data || p_g) (Goodfellow et al. 2014, Thm 1)
    p_g = T.gaussian_pdf(X, mean, std)
    l_star = T.gaussian_logpdf(X, 0, 1) - T.gaussian_logpdf(X, mean, std)
    v_star = T.value_function(l_star, P_DATA, p_g, DX, logit=True)
    assert abs(v_star - (-T.LOG4 + 2 * T.jsd(P_DATA, p_g, DX))) < 1e-9
    # and with the probabilities D* themselves, where D* does not round to exactly 0 or 1
    d_star = T.optimal_discriminator(P_DATA, p_g)
    if not np.any(((d_star == 1) & (p_g > 0)) | ((d_star == 0) & (P_DATA > 0))):
        assert abs(T.value_function(d_star, P_DATA, p_g, DX) - v_star) < 1e-9


@pytest.mark.parametrize("mean, std", GAUSSIANS)
def test_grid_jsd_matches_adaptive_quadrature(mean, std):
    # bug: a JSD that agrees with V(D*, G) only because both share the same grid error
    assert abs(T.jsd(P_DATA, T.gaussian_pdf(X, mean, std), DX) - T.jsd_gaussians_quad(0, 1, mean, std)) < 1e-8


def test_v_at_d_star_is_finite_for_far_apart_gaussians():
    # bug: computing log(1 - D*) from D* in probabilities: 1 - D* rounds to 0 in the tails, V = -inf
    p_g = T.gaussian_pdf(X, 6.0, 1.0)
    d_star = T.optimal_discriminator(P_DATA, p_g)
    assert np.any((d_star == 1.0) & (p_g > 0))  # the trap exists on this grid
    l_star = T.gaussian_logpdf(X, 0, 1) - T.gaussian_logpdf(X, 6.0, 1.0)
    v = T.value_function(l_star, P_DATA, p_g, DX, logit=True)
    assert math.isfinite(v) and -T.LOG4 < v < 0
    # value_function with probabilities is honest about it: D = 1 where p_g > 0 really gives -inf
    assert T.value_function(d_star, P_DATA, p_g, DX) == -math.inf


def test_v_is_minus_log4_for_a_constant_half_discriminator_whatever_g():
    # bug: V(1/2, G) = log(1/2) + log(1/2) must not depend on G (it is the value at the optimum)
    for mean, std in GAUSSIANS:
        assert abs(T.value_function(0.5, P_DATA, T.gaussian_pdf(X, mean, std), DX) + T.LOG4) < 1e-12


def test_global_optimum_is_minus_log4_at_p_g_equal_p_data():
    # bug: the minimum of C(G) anywhere else than p_g = p_data, or a value other than -log 4
    rows = T.minimax_table(GAUSSIANS)
    values = [r["V_star"] for r in rows]
    assert abs(values[0] + T.LOG4) < 1e-12
    assert all(v > -T.LOG4 + 1e-6 for v in values[1:])
    assert all(r["abs_diff"] < 1e-6 for r in rows)


def test_value_function_treats_zero_density_as_no_contribution():
    # bug: 0 * log(0) = nan where a density vanishes (outside a support)
    x, dx = T.grid(-3, 3, 6001)
    p_d, p_g = T.uniform_pdf(x, -1, 0), T.uniform_pdf(x, 0.5, 1.5)
    d = T.optimal_discriminator(p_d, p_g)  # 1 on p_data's support, 0 on p_g's, 1/2 elsewhere
    assert T.value_function(d, p_d, p_g, dx) == 0.0


def test_value_function_rejects_logits_passed_as_probabilities():
    # bug: passing logits where probabilities are expected silently gives nan
    with pytest.raises(ValueError, match="logit=True"):
        T.value_function(np.full_like(X, 3.0), P_DATA, P_DATA, DX)


def test_jsd_is_symmetric_non_negative_and_zero_only_for_equal_densities():
    # bug: computing KL(p || q) instead (asymmetric), or the JSD with a sign error
    p_g = T.gaussian_pdf(X, 1.0, 0.7)
    assert T.jsd(P_DATA, p_g, DX) == pytest.approx(T.jsd(p_g, P_DATA, DX), abs=1e-14)
    assert T.jsd(P_DATA, p_g, DX) > 0
    assert T.jsd(P_DATA, P_DATA, DX) == 0.0


@pytest.mark.parametrize("shift", [1.0, 1.5, 4.0, 10.0])
def test_jsd_saturates_at_log2_for_disjoint_supports(shift):
    # bug: a JSD in bits (saturating at 1) or one that keeps growing with the distance; the
    # saturation is the lesson (no gradient for G), notebook 07's motivation for WGAN
    x, dx = T.grid(-2, 13, 15_001)
    p = T.normalise(T.uniform_pdf(x, 0, 1), dx)
    q = T.normalise(T.uniform_pdf(x, shift + 0.0015, shift + 1.0015), dx)  # edges off the grid
    assert T.jsd(p, q, dx) == pytest.approx(T.LOG2, abs=1e-12)


def test_jsd_of_far_apart_gaussians_approaches_log2_from_below():
    js = [T.jsd(P_DATA, T.gaussian_pdf(X, m, 1.0), DX) for m in (1, 2, 4, 8, 12)]
    assert all(a < b for a, b in zip(js, js[1:])) and T.LOG2 - 1e-7 < js[-1] <= T.LOG2


def test_kl_matches_the_closed_form_for_gaussians():
    # bug: KL with the arguments swapped or a missing log: KL(N1||N2) = log(s2/s1) + (s1^2 + dm^2)/(2 s2^2) - 1/2
    for (m1, s1), (m2, s2) in [((0, 1), (1, 1)), ((0, 1), (0, 2)), ((1, 0.5), (-1, 1.5))]:
        exact = math.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5
        assert T.kl_divergence(T.gaussian_pdf(X, m1, s1), T.gaussian_pdf(X, m2, s2), DX) == pytest.approx(exact, abs=1e-9)
    assert T.kl_divergence(T.uniform_pdf(X, 0, 1), T.uniform_pdf(X, 2, 3), DX) == math.inf


# ---------------------------------------------------------------- W1
@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0, 4.0, -7.0])
def test_w1_of_gaussians_differing_only_in_mean_equals_the_shift(shift):
    # bug: W1 computed from the densities (|p - q|, total variation) instead of the CDFs
    assert T.wasserstein1_1d(P_DATA, T.gaussian_pdf(X, shift, 1.0), DX) == pytest.approx(abs(shift), abs=1e-9)


def test_w1_of_gaussians_differing_in_scale_matches_the_quantile_formula():
    # W1(N(0,1), N(0,s^2)) = |1 - s| E|Z| = |1 - s| sqrt(2/pi) (quantile coupling)
    for s in (0.5, 2.0, 3.0):
        assert T.wasserstein1_1d(P_DATA, T.gaussian_pdf(X, 0, s), DX) == pytest.approx(abs(1 - s) * math.sqrt(2 / math.pi), abs=1e-7)


def test_w1_keeps_growing_where_jsd_is_flat():
    # bug (conceptual): W1 saturating like the JSD would remove notebook 07's whole point
    x, dx = T.grid(-2, 13, 15_001)
    p = T.normalise(T.uniform_pdf(x, 0, 1), dx)
    w = [T.wasserstein1_1d(p, T.normalise(T.uniform_pdf(x, s, s + 1), dx), dx) for s in (2.0, 4.0, 8.0)]
    np.testing.assert_allclose(w, [2.0, 4.0, 8.0], atol=1e-6)
    assert T.wasserstein1_1d(p, p, dx) == 0.0


def test_densities_on_different_grids_are_rejected():
    # bug: broadcasting a 1000-point density against a 2000-point one gives a meaningless number
    with pytest.raises(ValueError, match="same grid"):
        T.jsd(np.ones(1000), np.ones(2000), 0.01)
    with pytest.raises(ValueError, match="non-negative"):
        T.jsd(-np.ones(10), np.ones(10), 0.1)


def test_format_minimax_table_is_deterministic_and_flags_agreement():
    # bug: a table that prints raw ~1e-16 differences (platform-dependent) would break nbval
    text = T.format_minimax_table(T.minimax_table([(0, 1), (2, 1)]))
    assert text == T.format_minimax_table(T.minimax_table([(0, 1), (2, 1)]))
    assert text.count("| yes") == 2 and "e-1" not in text


# ---------------------------------------------------------------- widgets fallback (notebooks 01, 04)
@pytest.mark.parametrize("env", [{"CI": "true"}, {"GAN_COURSE_SMOKE": "1"}, {"GAN_COURSE_WIDGETS": "0"}])
def test_widgets_fall_back_to_static_under_ci_and_when_forced_off(env, monkeypatch):
    # bug: a widget under nbval/CI renders as a dead text repr and the figure is lost
    for k in ("CI", "GAN_COURSE_SMOKE", "GAN_COURSE_WIDGETS"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert widgets.widgets_available() is False


def test_widgets_unavailable_outside_a_kernel(monkeypatch):
    # bug: drawing sliders in a plain python process (no frontend) shows nothing at all
    for k in ("CI", "GAN_COURSE_SMOKE", "GAN_COURSE_WIDGETS"):
        monkeypatch.delenv(k, raising=False)
    assert widgets.widgets_available() is False


def test_static_fallback_draws_once_with_static_kwargs(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setenv("GAN_COURSE_WIDGETS", "0")
    calls = []
    out = widgets.interactive_or_static(lambda a, b: calls.append((a, b)), {"a": 1.0, "b": 2},
                                        a=(0.0, 2.0, 0.1))
    assert out is None and calls == [(1.0, 2)]
    with pytest.raises(ValueError, match="no value"):
        widgets.interactive_or_static(lambda a: None, {}, a=(0.0, 1.0, 0.1))


# The table printed by notebook 01's `# NBVAL_CHECK_OUTPUT` cell. nbval only compares outputs of
# cells that were committed executed, and notebooks are committed stripped, so this golden copy is
# what actually pins the numbers in CI.
NOTEBOOK_01_CASES = [(0.0, 1.0), (0.5, 1.0), (1.0, 1.0), (2.0, 1.0), (0.0, 2.0), (3.0, 0.5), (5.0, 1.0), (10.0, 1.0)]
NOTEBOOK_01_TABLE = """\
 p_g = N(m, s^2) |     V(D*, G) | -log4 + 2 JSD | JSD / log 2 |        W1 | agree to 1e-6
-----------------------------------------------------------------------------------------
        m=0, s=1 |    -1.386294 |     -1.386294 |    0.000000 |  0.000000 | yes
      m=0.5, s=1 |    -1.325672 |     -1.325672 |    0.043730 |  0.500000 | yes
        m=1, s=1 |    -1.163451 |     -1.163451 |    0.160747 |  1.000000 | yes
        m=2, s=1 |    -0.712633 |     -0.712633 |    0.485944 |  2.000000 | yes
        m=0, s=2 |    -1.200828 |     -1.200828 |    0.133786 |  0.797885 | yes
      m=3, s=0.5 |    -0.124558 |     -0.124558 |    0.910150 |  3.000000 | yes
        m=5, s=1 |    -0.034409 |     -0.034409 |    0.975179 |  5.000000 | yes
       m=10, s=1 |    -0.000002 |     -0.000002 |    0.999999 | 10.000000 | yes"""


def test_notebook_01_table_is_unchanged():
    # bug: a change in gan_utils.lessons.theory (grid, integration rule, D* convention) silently changing
    # the numbers notebook 01 teaches
    x, dx = T.grid(lo=-20.0, hi=20.0, n=200_001)  # the notebook's GRID
    assert T.format_minimax_table(T.minimax_table(NOTEBOOK_01_CASES, x=x, dx=dx)) == NOTEBOOK_01_TABLE


def test_golden_table_uses_the_notebooks_cases_and_grid():
    # bug: the notebook's table drifting from the golden copy above (which then pins nothing)
    import ast
    from pathlib import Path

    import nbformat

    nb = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks" / "01_minimax.ipynb", as_version=4)
    src = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assigned = {}
    for node in ast.walk(ast.parse(src.replace("%", "#"))):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id in ("CASES", "GRID"):
            assigned[node.targets[0].id] = ast.literal_eval(node.value) if node.targets[0].id == "CASES" else \
                {kw.arg: ast.literal_eval(kw.value) for kw in node.value.keywords}
    assert assigned["CASES"] == NOTEBOOK_01_CASES
    assert assigned["GRID"] == {"lo": -20.0, "hi": 20.0, "n": 200_001}
