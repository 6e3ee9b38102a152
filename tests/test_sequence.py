"""gan_utils.sequence (notebook 13): the oracle is an exact probability model, sampling draws from it,
SeqGAN's rollouts and REINFORCE compute what the paper's equations say, the straight-through Gumbel
samples are one-hot with the soft sample's gradient, and the three trainings resume bit for bit."""
import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy import stats

from gan_utils import sequence as S
from gan_utils.checkpoint import load_checkpoint
from gan_utils.loop import run_loop
from gan_utils.runtime import ConfigError


def all_sequences(V: int, T: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(V), repeat=T)), dtype=torch.long)   # (V^T, T)


@pytest.fixture(scope="module")
def tiny_oracle():
    return S.OracleLSTM(vocab_size=3, hidden_dim=8, seq_len=4, seed=0)


# ---------------------------------------------------------------- the oracle is a probability model
def test_the_81_sequences_of_a_tiny_oracle_have_probabilities_summing_to_one(tiny_oracle):
    # guards against: an nll that is off by a token (the start token scored, the last token dropped), or
    # a log-softmax over the wrong axis: then exp(-nll) over all V^T sequences does not sum to 1.
    # The softmax is float64 over float32 logits, so the sum is 1 to ~1e-15; 1e-5 is the bound.
    seqs = all_sequences(3, 4)
    assert seqs.shape == (81, 4)
    nll = tiny_oracle.nll(seqs)
    assert nll.shape == (81,) and nll.dtype == torch.float64 and bool((nll > 0).all())
    assert abs(float(torch.exp(-nll).sum()) - 1.0) < 1e-5
    for temperature in (0.5, 2.0):                            # a tempered model is a distribution too
        assert abs(float(torch.exp(-tiny_oracle.nll(seqs, temperature)).sum()) - 1.0) < 1e-5
    G = S.LSTMGenerator(3, 8, 4)                              # and an untrained generator of the family
    with torch.no_grad():
        assert abs(float(torch.exp(-G.nll(seqs)).sum()) - 1.0) < 1e-5


def _chi_square_p(samples: torch.Tensor, probs: torch.Tensor, V: int) -> float:
    """p-value of Pearson's chi-square test of the sample counts of every sequence against ``probs``,
    sequences with an expected count below 5 pooled into one bin (the test's usual condition)."""
    codes = (samples * (V ** torch.arange(samples.shape[1] - 1, -1, -1))).sum(1)      # sequence -> index
    counts = torch.bincount(codes, minlength=len(probs)).double().numpy()
    expected = probs.detach().numpy() * len(samples)
    small = expected < 5
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    obs, exp = (obs[:-1], exp[:-1]) if exp[-1] == 0 else (obs, exp)
    return float(stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue)


def test_sample_frequencies_match_the_exact_probabilities(tiny_oracle):
    # guards against: sample() drawing from another distribution than nll() scores (a temperature applied
    # to one only, logits of the wrong step): Pearson's chi-square over the 81 sequences, 200 000 draws
    seqs = all_sequences(3, 4)
    n = 200_000
    for temperature in (1.0, 0.7):
        probs = torch.exp(-tiny_oracle.nll(seqs, temperature))
        samples = tiny_oracle.sample(n, generator=torch.Generator().manual_seed(1), temperature=temperature)
        assert samples.shape == (n, 4) and samples.dtype == torch.long
        assert _chi_square_p(samples, probs, 3) > 1e-3
    # the test can fail: the same samples against the untempered probabilities are rejected
    assert _chi_square_p(samples, torch.exp(-tiny_oracle.nll(seqs)), 3) < 1e-6
    # the Gumbel generator's hard samples are exact draws too (argmax of Gumbel-perturbed logits)
    G = S.LSTMGenerator(3, 8, 4)
    torch.manual_seed(2)
    with torch.no_grad():
        onehot = G.sample_gumbel(50_000, tau=1.0, hard=True)
    assert _chi_square_p(onehot.argmax(-1), torch.exp(-G.nll(seqs)), 3) > 1e-3


def test_the_oracle_is_n01_and_frozen_and_seeded():
    # guards against: an oracle with PyTorch's small default initialisation (an almost uniform "language")
    a, b = S.OracleLSTM(32, 32, 12, seed=5), S.OracleLSTM(32, 32, 12, seed=5)
    w = torch.cat([p.flatten() for p in a.parameters()])
    assert abs(float(w.mean())) < 0.05 and abs(float(w.std()) - 1.0) < 0.05          # N(0, 1), ~8 000 draws
    assert all(not p.requires_grad for p in a.parameters())
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    a.train()
    assert not a.training
    c = S.OracleLSTM(32, 32, 12, seed=6)
    assert not torch.equal(a.out.weight, c.out.weight)


def test_nll_metrics_are_named_per_token_and_per_sequence(tiny_oracle):
    test = tiny_oracle.sample(4000, generator=torch.Generator().manual_seed(3))
    q = S.nll_oracle(tiny_oracle, tiny_oracle, n=4000, seed=4)
    d = S.nll_test(tiny_oracle, test)
    for m in (q, d):
        assert m.per_token == pytest.approx(m.per_sequence / 4) and m.n == 4000 and m.sem_per_sequence > 0
    # the oracle scoring its own samples and its own test set both estimate its entropy
    assert abs(q.per_sequence - d.per_sequence) < 5 * math.hypot(q.sem_per_sequence, d.sem_per_sequence)
    # lower temperature: samples the oracle likes more (quality up), held-out data liked less (diversity down)
    cold = S.nll_oracle(tiny_oracle, tiny_oracle, n=4000, seed=4, temperature=0.5)
    assert cold.per_sequence < q.per_sequence and S.nll_test(tiny_oracle, test, 0.5).per_sequence > d.per_sequence


# ---------------------------------------------------------------- REINFORCE
def test_reinforce_gradient_of_a_one_step_toy_equals_the_analytic_gradient():
    # guards against: a sign error, a missing log, rewards that are back-propagated into: for one token
    # y ~ softmax(theta) with reward r(y), d E[r] / d theta = p * (r - p.r); the REINFORCE loss's
    # gradient on one sample is -(r_y - b)(e_y - p), whose expectation over y must be exactly that
    theta = torch.tensor([0.3, -1.2, 0.8, 0.0, 2.0], dtype=torch.float64)
    r = torch.tensor([1.0, 0.2, -0.5, 3.0, 0.7], dtype=torch.float64)
    p = torch.softmax(theta, 0)
    analytic = p * (r - (p * r).sum())
    th = theta.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad((torch.softmax(th, 0) * r).sum(), th)
    assert torch.allclose(auto, analytic, atol=1e-15)
    for b in (None, 0.9):
        expected_grad = torch.zeros(5, dtype=torch.float64)
        for y in range(5):                                     # the expectation, enumerated exactly
            th = theta.clone().requires_grad_(True)
            logp = torch.log_softmax(th, 0)[y].view(1, 1)
            reward = r[y].view(1, 1).clone().requires_grad_(True)
            (g,) = torch.autograd.grad(S.reinforce_loss(logp, reward, b), th)
            one_hot = F.one_hot(torch.tensor(y), 5).double()
            assert torch.allclose(g, -(r[y] - (b or 0.0)) * (one_hot - p), atol=1e-14)
            expected_grad += p[y] * g
        assert torch.allclose(-expected_grad, analytic, atol=1e-14)

    # and by Monte Carlo: 200 000 draws land within 5 standard errors, with and without a baseline
    n = 200_000
    y = torch.multinomial(p, n, replacement=True, generator=torch.Generator().manual_seed(0))
    for b in (None, float((p * r).sum())):
        th = theta.clone().requires_grad_(True)
        logp = torch.log_softmax(th, 0)[y].view(n, 1)
        (g,) = torch.autograd.grad(S.reinforce_loss(logp, r[y].view(n, 1), b), th)
        per_sample = -(r[y] - (b or 0.0))[:, None] * (F.one_hot(y, 5).double() - p)   # each draw's estimate
        se = per_sample.std(0) / math.sqrt(n)
        assert bool(((-g - analytic).abs() < 5 * se).all())


def test_reinforce_loss_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        S.reinforce_loss(torch.zeros(4, 3), torch.zeros(4, 2))


# ---------------------------------------------------------------- rollouts (eq. 4)
class FirstTokenD(nn.Module):
    """A discriminator whose logit depends on the first token only."""

    def __init__(self, V):
        super().__init__()
        self.w = nn.Parameter(torch.linspace(-2, 2, V))
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        onehot = F.one_hot(x, self.w.numel()).float() if x.dtype == torch.long else x
        return self.drop(onehot[:, 0] @ self.w)


class LastTokenD(FirstTokenD):
    def forward(self, x):
        return F.one_hot(x, self.w.numel()).float()[:, -1] @ self.w


def test_the_rollout_reward_of_a_complete_sequence_is_ds_score():
    # guards against: the last reward taken from a rollout (or from D with dropout on) instead of D(Y_1:T)
    torch.manual_seed(0)
    G = S.LSTMGenerator(6, 8, 5)
    D = S.CNNDiscriminator(6, 5, emb_dim=4, filter_sizes=(1, 2, 5), num_filters=3, dropout=0.5)
    Y = G.sample(7)
    D.train()
    Q = S.rollout_rewards(G, D, Y, n_rollouts=3)
    assert Q.shape == (7, 5) and bool(((Q > 0) & (Q < 1)).all())
    assert D.training                                              # D's mode is restored
    D.eval()
    with torch.no_grad():
        assert torch.equal(Q[:, -1], torch.sigmoid(D(Y)).double())


def test_rollouts_keep_the_prefix_and_average_completions():
    # guards against: completions that overwrite the prefix (then a first-token D would not give every
    # position the same reward), and Q_{T-1} that is not the mean of D over completions of Y_1:T-1
    torch.manual_seed(1)
    V, T = 4, 3
    G = S.LSTMGenerator(V, 8, T)
    Y = G.sample(5)
    D = FirstTokenD(V)
    Q = S.rollout_rewards(G, D, Y, n_rollouts=2)
    assert torch.allclose(Q, Q[:, :1].expand_as(Q), atol=1e-12)       # every prefix holds y_1
    D2 = LastTokenD(V)
    N = 20_000
    Q2 = S.rollout_rewards(G, D2, Y, n_rollouts=N, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        p_last = torch.softmax(G(Y)[:, -1].double(), -1)              # G(y_T | Y_1:T-1), (5, V)
        d_of = torch.sigmoid(D2.w.double())                           # D's probability for each last token
    exact = (p_last * d_of).sum(1)                                    # E over the completions' last token
    sd = torch.sqrt((p_last * d_of ** 2).sum(1) - exact ** 2)
    assert bool(((Q2[:, -2] - exact).abs() < 5 * sd / math.sqrt(N)).all())


def test_the_discriminator_reads_ids_and_one_hot_rows_alike():
    torch.manual_seed(0)
    D = S.CNNDiscriminator(5, 6, emb_dim=4, filter_sizes=(1, 3, 6), num_filters=2, dropout=0.0)
    y = torch.randint(0, 5, (9, 6))
    assert torch.allclose(D(y), D(F.one_hot(y, 5).float()), atol=1e-6)
    with pytest.raises(ConfigError, match="between 1 and seq_len"):
        S.CNNDiscriminator(5, 6, filter_sizes=(7,))


# ---------------------------------------------------------------- Gumbel-softmax
def test_hard_gumbel_samples_are_one_hot_with_the_straight_through_gradient():
    # guards against: hard samples that are not one-hot, or whose gradient is zero (argmax) instead of the
    # soft sample's: with the same Gumbel noise (same RNG state), hard = one_hot(argmax(soft)) and
    # grad(hard) = grad(soft)
    logits = torch.randn(64, 7, dtype=torch.float64)
    w = torch.randn(64, 7, dtype=torch.float64)
    for tau in (0.3, 1.0, 3.0):
        lh = logits.clone().requires_grad_(True)
        torch.manual_seed(11)
        hard = F.gumbel_softmax(lh, tau=tau, hard=True)
        ls = logits.clone().requires_grad_(True)
        torch.manual_seed(11)
        soft = F.gumbel_softmax(ls, tau=tau, hard=False)
        assert torch.equal(hard.sum(-1), torch.ones(64, dtype=torch.float64)) and set(hard.unique().tolist()) <= {0.0, 1.0}
        assert torch.equal(hard.argmax(-1), soft.argmax(-1))
        (g_hard,) = torch.autograd.grad((hard * w).sum(), lh)
        (g_soft,) = torch.autograd.grad((soft * w).sum(), ls)
        assert torch.allclose(g_hard, g_soft, atol=1e-12) and g_hard.abs().sum() > 0
    # the generator's relaxed samples: exactly one-hot, and D's gradient reaches G's parameters
    torch.manual_seed(0)
    G = S.LSTMGenerator(5, 8, 4)
    D = S.CNNDiscriminator(5, 4, emb_dim=3, filter_sizes=(1, 2), num_filters=2, dropout=0.0)
    y = G.sample_gumbel(16, tau=0.5, hard=True)
    assert y.shape == (16, 4, 5) and torch.equal(y.sum(-1), torch.ones(16, 4))
    D(y).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in (G.out.weight, G.lstm.weight_ih_l0))


# ---------------------------------------------------------------- the trainings
def _tiny_cfg(**kw):
    small = dict(vocab_size=6, seq_len=5, oracle_hidden=8, n_train=256, n_test=64, hidden_dim=8, d_emb_dim=4,
                 d_filter_sizes=(1, 2, 5), d_num_filters=3, batch_size=16, d_pretrain=1, d_samples=32, n_rollouts=2,
                 eval_samples=64)
    return S.SequenceGANConfig(**{**small, **kw})


def _state(task):
    return {**{f"{k}.{n}": v.clone() for k, m in task.modules().items() for n, v in m.state_dict().items()},
            "rng": torch.get_rng_state()}


@pytest.mark.parametrize("cls", [S.MLETask, S.SeqGANTask, S.GumbelGANTask], ids=lambda c: c.kind)
def test_a_resumed_run_continues_bit_for_bit(tmp_path, cls):
    # guards against: a resume that forgets D, an optimiser, a loader's position, the RNG or the curve
    cfg = _tiny_cfg()
    data = S.make_oracle_data(cfg)
    whole = cls(cfg, data)
    whole.snapshot(0, None)
    r = run_loop(whole, 4, out_dir=tmp_path / "whole", sample_every=2, log_every=1, progress=False)
    first = cls(cfg, data)
    first.snapshot(0, None)
    run_loop(first, 2, out_dir=tmp_path / "split", sample_every=2, log_every=1, progress=False)
    second = cls(cfg, data)
    torch.manual_seed(999)                                          # a new process: other RNG state ...
    with torch.no_grad():
        for p in second.G.parameters():                              # ... and other weights
            p.add_(1.0)
    r2 = run_loop(second, 4, out_dir=tmp_path / "split", resume=True, sample_every=2, log_every=1, progress=False)
    a, b = _state(whole), _state(second)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "the resumed run drifted"
    same = [k for k in whole.curve if k != "seconds"]                  # wall-clock time differs, of course
    assert all(whole.curve[k] == second.curve[k] for k in same) and whole.curve["step"] == [0, 2, 4]
    assert r.history["step"] == r2.history["step"] == [1, 2, 3, 4]
    assert all(r.history[k] == r2.history[k] for k in r.history if k != "items_per_s")
    ck = torch.load(tmp_path / "split" / "checkpoint_latest.pt", weights_only=True)
    assert ck["kind"] == cls.kind and ck["step"] == 4


def test_seqgan_rounds_pretrain_d_then_update_g(tmp_path):
    # guards against: G steps during D's pre-training (Algorithm 1 lines 4-5) or none after it
    cfg = _tiny_cfg(d_pretrain=2)
    task = S.SeqGANTask(cfg, S.make_oracle_data(cfg))
    g0 = {k: v.clone() for k, v in task.G.state_dict().items()}
    unchanged = {}

    def watch(info):
        unchanged[info["step"]] = all(torch.equal(g0[k], v) for k, v in task.G.state_dict().items())

    r = run_loop(task, 3, out_dir=tmp_path, log_every=1, progress=False, callback=watch)
    assert r.history["g_step"] == [0.0, 0.0, 1.0] and unchanged == {1: True, 2: True, 3: False}
    assert load_checkpoint(tmp_path)["step"] == 3


def test_a_resume_with_another_adversarial_setting_is_refused(tmp_path):
    from gan_utils.checkpoint import CheckpointError

    cfg = _tiny_cfg()
    data = S.make_oracle_data(cfg)
    run_loop(S.SeqGANTask(cfg, data), 1, out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="config.n_rollouts: checkpoint 2 vs now 3"):
        run_loop(S.SeqGANTask(_tiny_cfg(n_rollouts=3), data), 2, out_dir=tmp_path, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="checkpoint of a 'seqgan' run"):
        run_loop(S.GumbelGANTask(cfg, data), 2, out_dir=tmp_path, resume=True, progress=False)


@pytest.mark.parametrize("kw, needle", [
    ({"vocab_size": 0}, "vocab_size=0"),
    ({"d_filter_sizes": (1, 30)}, "longer than seq_len"),
    ({"lr_g": -1.0}, "lr_g=-1.0"),
    ({"d_samples": 8}, "at least batch_size"),
    ({"d_pretrain": -1}, "d_pretrain=-1"),
])
def test_bad_settings_raise_one_clear_error(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        _tiny_cfg(**kw)


def test_bad_tokens_and_temperatures_raise_one_clear_error(tiny_oracle):
    with pytest.raises(ConfigError, match=r"shape \(n, 4\)"):
        tiny_oracle.nll(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ConfigError, match="outside 0..2"):
        tiny_oracle.nll(torch.full((2, 4), 3))
    with pytest.raises(ConfigError, match="integer tensor"):
        tiny_oracle.nll(torch.zeros(2, 4))
    with pytest.raises(ConfigError, match="temperature=0"):
        tiny_oracle.sample(3, temperature=0)
