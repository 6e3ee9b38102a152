"""gan_utils.metrics.mode_coverage (notebook 02's table): each test names the bug it guards against."""
import math

import numpy as np
import pytest
import torch

from gan_utils.lessons.toys import grid25, grid25_centers, ring8, ring8_centers
from gan_utils.metrics import ModeCoverage, mode_coverage
from gan_utils.metrics.modes import RULES, mode_coverage_rules


def test_samples_exactly_at_the_centres_cover_every_mode_with_100_percent_quality():
    # guards against: an off-by-one or a strict '<' that rejects a sample at distance 0
    for centers, std in ((ring8_centers(), 0.02), (grid25_centers(), 0.05)):
        samples = centers.repeat(40, 1)                       # every centre 40 times
        cov = mode_coverage(samples, centers, std)
        assert isinstance(cov, ModeCoverage)
        assert cov.modes_covered == cov.n_modes == len(centers)
        assert cov.high_quality == 1.0
        assert cov.counts == [40] * len(centers)


def test_all_samples_on_one_mode_count_as_one_mode():
    # guards against: counting modes from the nearest centre of *every* sample, or a collapsed
    # generator scoring as diverse
    centers = grid25_centers()
    g = torch.Generator().manual_seed(0)
    samples = centers[7] + 0.05 * torch.randn(2000, 2, generator=g)
    cov = mode_coverage(samples, centers, 0.05)
    assert cov.modes_covered == 1
    assert cov.counts[7] == sum(cov.counts)
    assert cov.high_quality > 0.95                            # the collapsed mode itself is sharp


def test_uniform_noise_over_a_big_box_has_a_low_high_quality_fraction():
    # guards against: a distance threshold in the wrong units (e.g. 3 instead of 3 * std)
    centers, std = grid25_centers(), 0.05
    g = torch.Generator().manual_seed(1)
    samples = (torch.rand(20000, 2, generator=g) - 0.5) * 10  # uniform on [-5, 5]^2, around the grid
    cov = mode_coverage(samples, centers, std)
    expected = len(centers) * math.pi * (3 * std) ** 2 / 10 ** 2   # area of the 25 discs / box area
    assert cov.high_quality < 0.03                            # 1.8 % expected (~350 samples, +-5 %)
    assert cov.high_quality == pytest.approx(expected, rel=0.2)
    assert cov.modes_covered == 25                            # noise touches every mode a little


def test_real_data_scores_full_coverage_and_the_gaussian_3_sigma_mass():
    # guards against: a metric that the data itself would fail. In 2-D, P(|x - mu| <= 3 std) =
    # 1 - exp(-9/2) = 98.89 % for an isotropic Gaussian.
    g = torch.Generator().manual_seed(2)
    for fn, k in ((ring8, 8), (grid25, 25)):
        x, centers, std = fn(20000, generator=g)
        cov = mode_coverage(x, centers, std)
        assert cov.modes_covered == k
        assert cov.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.004)


def test_a_few_stragglers_do_not_cover_a_mode():
    # guards against: the default rule silently becoming "one sample on a mode = covered" (that is
    # VEEGAN's rule; the course's default, "hq-share", asks for 0.8 % of the high-quality samples)
    centers = ring8_centers()
    samples = torch.cat([centers[0].repeat(1000, 1), centers[1].repeat(1000, 1), centers[2].repeat(10, 1)])
    cov = mode_coverage(samples, centers, 0.02)
    assert cov.counts[:3] == [1000, 1000, 10]
    assert cov.modes_covered == 2                              # 10 / 2010 = 0.5 % < 0.8 %
    samples = torch.cat([samples, centers[2].repeat(10, 1)])   # 20 / 2020 = 0.99 % >= 0.8 %
    assert mode_coverage(samples, centers, 0.02).modes_covered == 3


def test_the_quality_threshold_is_3_std_from_the_nearest_centre():
    # guards against: using 1 std, or the distance to the first centre instead of the nearest one
    centers, std = ring8_centers(), 0.02
    direction = torch.tensor([0.6, 0.8])
    inside = centers[3] + 0.999 * 3 * std * direction
    outside = centers[3] + 1.001 * 3 * std * direction
    assert mode_coverage(inside.view(1, 2), centers, std).high_quality == 1.0
    assert mode_coverage(outside.view(1, 2), centers, std).high_quality == 0.0
    cov = mode_coverage(torch.stack([inside, outside]), centers, std)
    assert cov.high_quality == 0.5 and cov.counts[3] == 1


def test_no_high_quality_sample_covers_no_mode():
    # guards against: a division by zero when every sample is far from every mode
    cov = mode_coverage(torch.full((100, 2), 50.0), ring8_centers(), 0.02)
    assert (cov.modes_covered, cov.high_quality, sum(cov.counts)) == (0, 0.0, 0)


def test_accepts_numpy_and_rejects_empty_input():
    centers = ring8_centers().numpy()
    cov = mode_coverage(np.repeat(centers, 3, axis=0), centers, 0.02)
    assert cov.modes_covered == 8 and str(cov) == "8/8 modes, 100.0% high quality"
    with pytest.raises(ValueError):
        mode_coverage(np.zeros((0, 2)), centers, 0.02)


# ---------------------------------------------------------------- the three covering rules
def _stragglers_and_noise():
    """1000 samples on ring mode 0, 10 on mode 1, 1500 far from every mode: N = 2510, 1010 HQ."""
    centers = ring8_centers()
    samples = torch.cat([centers[0].repeat(1000, 1), centers[1].repeat(10, 1), torch.full((1500, 2), 50.0)])
    return samples, centers


def test_veegan_rule_counts_a_mode_with_one_high_quality_sample():
    # guards against: attributing VEEGAN a share threshold. VEEGAN, section 5: the modes "whose mean
    # is nearest to at least one high quality sample"
    centers = ring8_centers()
    samples = torch.cat([centers[0].repeat(1000, 1), centers[1].view(1, 2)])   # one sample on mode 1
    assert mode_coverage(samples, centers, 0.02, rule="veegan").modes_covered == 2
    assert mode_coverage(samples, centers, 0.02).modes_covered == 1           # hq-share: 1 < 0.8 % of 1001
    near_miss = centers[1] + torch.tensor([3.001 * 0.02, 0.0])                 # not high quality
    samples = torch.cat([centers[0].repeat(1000, 1), near_miss.view(1, 2)])
    assert mode_coverage(samples, centers, 0.02, rule="veegan").modes_covered == 1


def test_all_samples_rule_divides_by_all_samples_not_the_high_quality_ones():
    # guards against: the "20 of 2 500" rule computed as a share of the HQ samples (the default rule)
    samples, centers = _stragglers_and_noise()
    hq_share = mode_coverage(samples, centers, 0.02)
    all_samples = mode_coverage(samples, centers, 0.02, rule="all-samples")
    assert hq_share.counts[:2] == all_samples.counts[:2] == [1000, 10]
    assert hq_share.modes_covered == 2            # 10 >= 0.8 % of 1010 HQ samples = 8.08
    assert all_samples.modes_covered == 1         # 10 <  0.8 % of 2510 samples = 20.08
    assert mode_coverage(samples, centers, 0.02, rule="veegan").modes_covered == 2
    assert hq_share.high_quality == all_samples.high_quality == pytest.approx(1010 / 2510)


def test_all_samples_rule_is_20_of_2500_by_default():
    # guards against: an off-by-one at the threshold (19 must fail, 20 must pass)
    centers = ring8_centers()
    for n_on_mode, covered in ((19, 1), (20, 2)):
        samples = torch.cat([centers[0].repeat(1000, 1), centers[1].repeat(n_on_mode, 1),
                             torch.full((2500 - 1000 - n_on_mode, 2), 50.0)])
        assert mode_coverage(samples, centers, 0.02, rule="all-samples").modes_covered == covered


def test_uniform_noise_covers_most_grid_modes_under_the_hq_rules_and_none_under_all_samples():
    # guards against: presenting any single rule as noise-proof. 2 500 uniform points on [-5, 5]^2:
    # ~45 HQ samples, ~1.8 per mode, so a threshold of one HQ sample is met by most modes.
    centers, std = grid25_centers(), 0.05
    g = torch.Generator().manual_seed(3)
    noise = (torch.rand(2500, 2, generator=g) - 0.5) * 10
    scores = mode_coverage_rules(noise, centers, std)
    assert set(scores) == set(RULES) and all(s.rule == r for r, s in scores.items())
    assert scores["veegan"].modes_covered >= 15
    assert scores["hq-share"].modes_covered == scores["veegan"].modes_covered   # 0.8 % of ~45 HQ < 1
    assert scores["all-samples"].modes_covered == 0
    assert len({s.high_quality for s in scores.values()}) == 1


def test_default_rule_is_unchanged_and_unknown_rules_are_rejected():
    # guards against: a new keyword changing the course's table, or a typo silently using a default
    samples, centers = _stragglers_and_noise()
    assert mode_coverage(samples, centers, 0.02) == mode_coverage(samples, centers, 0.02, rule="hq-share")
    assert mode_coverage(samples, centers, 0.02).rule == "hq-share"
    with pytest.raises(ValueError, match="veegan"):
        mode_coverage(samples, centers, 0.02, rule="VEEGAN")
