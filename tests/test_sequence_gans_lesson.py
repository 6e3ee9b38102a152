"""gan_utils.lessons.sequence_gans (notebook 13): the measurements behind the lesson's claims."""
import math

import numpy as np
import pytest
import torch

from gan_utils import sequence as S
from gan_utils.lessons import sequence_gans as L


def test_toy_estimators_know_which_is_biased():
    # guards against: an estimator table whose "unbiased" rows are biased (a wrong score function) or whose
    # relaxations are not (a relaxation that secretly samples the categorical)
    rows = {(r["estimator"], r["tau"]): r for r in L.toy_estimators(n=20_000, seed=1)}
    exact = L.toy_objective_gradient()
    assert float(exact.norm()) > 0
    for name in ("REINFORCE", "REINFORCE + baseline"):
        assert rows[(name, None)]["bias"] < 5 * rows[(name, None)]["bias_se"]
    for tau in (0.5, 1.0, 2.0):
        assert rows[("Gumbel-softmax", tau)]["bias"] > 5 * rows[("Gumbel-softmax", tau)]["bias_se"]
    relax = rows[("softmax relaxation", None)]
    assert relax["spread"] == 0.0 and relax["bias"] > 0.05


def test_exposure_bias_of_the_oracle_itself_is_nil():
    # guards against: free-running and teacher-forced measurements that differ by construction: a model equal
    # to the oracle reads its own prefixes exactly as it reads the oracle's, so all three curves agree in
    # expectation (5 standard errors of 20 000 sequences per position)
    oracle = S.OracleLSTM(6, 16, 5, seed=3)
    real = oracle.sample(20_000, generator=torch.Generator().manual_seed(1))
    e = L.exposure_bias(oracle, oracle, real, n=20_000, seed=2)
    with torch.no_grad():
        sd = (-oracle.token_log_probs(real)).std(0).numpy()
    se = sd / math.sqrt(20_000)
    for key in ("free", "teacher"):
        assert np.all(np.abs(np.array(e[key]) - np.array(e["oracle"])) < 5 * math.sqrt(2) * se), key


def test_curve_gap_is_measured_at_equal_quality():
    # guards against: a gap taken at the wrong coordinate or with the wrong sign
    sweep = {"temperature": [0.5, 0.8, 1.0, 1.25], "nll_oracle": [1.6, 2.2, 2.6, 3.1],
             "nll_test": [2.8, 2.33, 2.26, 2.28]}
    on_curve = {"nll_oracle": 2.4, "nll_test": float(np.interp(2.4, [2.2, 2.6], [2.33, 2.26]))}
    assert L.curve_gap(sweep, on_curve) == pytest.approx(0.0, abs=1e-12)
    assert L.curve_gap(sweep, {**on_curve, "nll_test": on_curve["nll_test"] - 0.01}) == pytest.approx(-0.01)
    assert L.curve_gap(sweep, {"nll_oracle": 3.5, "nll_test": 2.2}) is None


def test_temperature_sweep_trades_quality_for_diversity():
    oracle = S.OracleLSTM(6, 16, 5, seed=3)
    test = oracle.sample(2000, generator=torch.Generator().manual_seed(1))
    sw = L.temperature_sweep(oracle, oracle, test, temperatures=(0.5, 1.0), n=2000, seed=0)
    assert sw["nll_oracle"][0] < sw["nll_oracle"][1] and sw["nll_test"][0] > sw["nll_test"][1]
