"""GANs for discrete sequences: SeqGAN and a Gumbel-softmax GAN on SeqGAN's synthetic oracle
(taught in notebooks/13_sequence_gans.ipynb).

Tokens are integers ``0 .. V-1``; a sequence is a LongTensor ``(n, T)``. The pieces:

* :class:`LSTMGenerator` -- G_theta, an LSTM language model ``G(y_t | y_1..y_{t-1})`` that starts from
  its own start token (index ``V`` of its embedding, never emitted): teacher-forced log-probabilities
  (:meth:`~LSTMGenerator.token_log_probs`, :meth:`~LSTMGenerator.nll`), ancestral sampling at any
  temperature (:meth:`~LSTMGenerator.sample`, also completing given prefixes: the Monte-Carlo rollouts),
  and relaxed sampling through ``torch.nn.functional.gumbel_softmax``
  (:meth:`~LSTMGenerator.sample_gumbel`: one-hot tokens with the straight-through gradient).
* :class:`OracleLSTM` -- the same family with every parameter drawn from N(0, 1) and frozen: the
  "real data" of [Yu2017]'s synthetic experiment, whose exact likelihood :meth:`~LSTMGenerator.nll` is
  known, so that the quality of a model's samples can be *measured* (NLL-oracle).
* :class:`CNNDiscriminator` -- D_phi, the CNN over token embeddings of [Kim2014] that SeqGAN uses:
  window sizes ``l``, max-over-time pooling, a highway layer, dropout, one logit. It reads token ids or
  one-hot rows (the Gumbel generator's output), so both GANs share it.
* :func:`rollout_rewards` -- SeqGAN's eq. (4): the reward of token ``y_t`` is D's mean score of N
  completions of ``y_1..y_t`` sampled by the roll-out policy, and D's score itself at ``t = T``.
* :func:`reinforce_loss` -- the policy gradient of eqs. (6)-(8) (REINFORCE [Williams1992]) as a loss.
* :func:`mle_loss` -- teacher forcing, the maximum-likelihood pre-training.
* :func:`nll_oracle` (quality: the oracle's NLL of the model's samples) and :func:`nll_test`
  (diversity: the model's NLL of held-out oracle samples), each per sequence and per token (:class:`NLL`).
* :class:`SequenceGANConfig` (every setting, with the paper's values beside ours), :func:`make_oracle_data`
  and the three trainings as :class:`gan_utils.loop.Task` subclasses, trained by
  :func:`gan_utils.loop.run_loop` (progress bar, checkpoints, bit-exact resume on the CPU, NaN guard,
  Ctrl-C / SIGTERM keep a whole step): :class:`MLETask`, :class:`SeqGANTask`, :class:`GumbelGANTask`.

Random draws inside training steps come from torch's global generator (the loop saves and restores
it); evaluations draw from their own seeded ``torch.Generator``, so measuring never changes training.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .loop import Task
from .runtime import ConfigError

__all__ = ["LSTMGenerator", "OracleLSTM", "CNNDiscriminator", "rollout_rewards", "reinforce_loss", "mle_loss",
           "NLL", "nll_oracle", "nll_test", "SequenceGANConfig", "OracleData", "make_oracle_data",
           "MLETask", "SeqGANTask", "GumbelGANTask"]


# ============================================================================ the generator family
class LSTMGenerator(nn.Module):
    """G_theta: an LSTM language model over ``vocab_size`` tokens, sequences of ``seq_len`` tokens.

    ``G(y_t | y_1..y_{t-1}) = softmax(c + V h_t)`` with ``h_t`` the LSTM state after reading the start
    token and ``y_1..y_{t-1}`` ([Yu2017], eqs. 9-10). The start token is row ``vocab_size`` of the
    embedding and is never generated. ``emb_dim`` defaults to ``hidden_dim`` (the authors' code: 32 and 32).
    """

    def __init__(self, vocab_size: int, hidden_dim: int, seq_len: int, emb_dim: Optional[int] = None):
        super().__init__()
        for name, v in (("vocab_size", vocab_size), ("hidden_dim", hidden_dim), ("seq_len", seq_len)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name}={v!r} must be a whole number >= 1")
        if vocab_size < 2:
            raise ConfigError(f"vocab_size={vocab_size} must be >= 2 (one token is no choice at all)")
        emb_dim = hidden_dim if emb_dim is None else int(emb_dim)
        self.vocab_size, self.hidden_dim, self.seq_len, self.emb_dim = vocab_size, hidden_dim, seq_len, emb_dim
        self.config = {"vocab_size": vocab_size, "hidden_dim": hidden_dim, "seq_len": seq_len, "emb_dim": emb_dim}
        self.embed = nn.Embedding(vocab_size + 1, emb_dim)     # + 1: the start token, index vocab_size
        self.lstm = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
        self.out = nn.Linear(hidden_dim, vocab_size)

    @property
    def start_token(self) -> int:
        return self.vocab_size

    def _device(self) -> torch.device:
        return self.out.weight.device

    def check_tokens(self, tokens: torch.Tensor, name: str = "tokens") -> torch.Tensor:
        """``tokens`` as a LongTensor ``(n, seq_len)`` with values in ``0 .. vocab_size - 1``, or one clear error."""
        if not isinstance(tokens, torch.Tensor) or tokens.dtype not in (torch.int64, torch.int32):
            raise ConfigError(f"{name} must be an integer tensor (n, {self.seq_len}) of token ids, "
                              f"got {type(tokens).__name__} {getattr(tokens, 'dtype', '')}")
        if tokens.dim() != 2 or tokens.shape[1] != self.seq_len:
            raise ConfigError(f"{name} must have shape (n, {self.seq_len}), got {tuple(tokens.shape)}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            raise ConfigError(f"{name} holds ids outside 0..{self.vocab_size - 1} "
                              f"(min {int(tokens.min())}, max {int(tokens.max())})")
        return tokens.long()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: the logits ``(n, T, V)`` of every next token given the true prefix, i.e.
        position ``t`` holds the logits of ``G(. | y_1..y_{t-1})`` (the input is the start token
        followed by ``y_1..y_{T-1}``)."""
        tokens = self.check_tokens(tokens)
        start = torch.full((tokens.shape[0], 1), self.start_token, dtype=torch.long, device=tokens.device)
        inputs = torch.cat([start, tokens[:, :-1]], dim=1)            # (n, T): shifted right by one
        h, _ = self.lstm(self.embed(inputs))                          # (n, T, H)
        return self.out(h)                                            # (n, T, V)

    def token_log_probs(self, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """``log G(y_t | y_1..y_{t-1})`` of every token, ``(n, T)`` in float64, differentiable.

        The softmax is taken in float64 over the float32 logits: every next-token distribution then
        sums to 1 up to ~1e-16, whatever rounding the LSTM did, so the probabilities of all ``V^T``
        sequences sum to 1 to far better than float32 could (tests/test_sequence.py checks it).
        ``temperature`` divides the logits (the tempered model that :meth:`sample` draws from)."""
        _check_temperature(temperature)
        logp = torch.log_softmax(self(tokens).double() / temperature, dim=-1)   # (n, T, V)
        return logp.gather(-1, tokens.long().unsqueeze(-1)).squeeze(-1)        # (n, T)

    def nll(self, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """Negative log-likelihood of each sequence in nats, summed over its ``T`` tokens: ``(n,)``,
        ``-sum_t log G(y_t | y_1..y_{t-1})``. Divide by ``seq_len`` for the per-token NLL."""
        return -self.token_log_probs(tokens, temperature).sum(dim=1)

    def _step(self, x: torch.Tensor, state):
        h, state = self.lstm(self.embed(x).unsqueeze(1), state)      # one step: (n, 1, H)
        return self.out(h[:, 0]), state                               # logits (n, V)

    @torch.no_grad()
    def sample(self, n: int, generator: Optional[torch.Generator] = None, temperature: float = 1.0,
               prefix: Optional[torch.Tensor] = None, prefix_len=None) -> torch.Tensor:
        """``n`` sequences ``(n, T)`` by ancestral sampling from ``softmax(logits / temperature)``.

        ``generator``: a ``torch.Generator`` for reproducible draws (default: torch's global one).
        ``prefix`` (``(n, T)`` tokens) with ``prefix_len`` (an int, or one length per row): the first
        ``prefix_len`` tokens of each row are copied from ``prefix`` and the rest sampled given them --
        the Monte-Carlo completion of SeqGAN's roll-out (:func:`rollout_rewards`)."""
        _check_temperature(temperature)
        n = int(n)
        device = self._device()
        if prefix is not None:
            prefix = self.check_tokens(prefix, "prefix").to(device)
            if prefix.shape[0] != n:
                raise ConfigError(f"prefix has {prefix.shape[0]} rows for n={n}")
            lengths = torch.as_tensor(0 if prefix_len is None else prefix_len, device=device).expand(n)
        x = torch.full((n,), self.start_token, dtype=torch.long, device=device)
        state, out = None, []
        for t in range(self.seq_len):
            logits, state = self._step(x, state)
            probs = torch.softmax(logits.double() / temperature, dim=-1)      # (n, V), float64
            y = torch.multinomial(probs, 1, generator=generator).squeeze(1)   # (n,)
            if prefix is not None:
                y = torch.where(t < lengths, prefix[:, t], y)                 # keep the given prefix
            out.append(y)
            x = y
        return torch.stack(out, dim=1)                                        # (n, T)

    def sample_gumbel(self, n: int, tau: float = 1.0, hard: bool = True) -> torch.Tensor:
        """``n`` sequences as one-hot rows ``(n, T, V)`` drawn through
        ``torch.nn.functional.gumbel_softmax`` ([Jang2017]; [Maddison2017]'s Concrete distribution), so that
        D's gradient reaches G: each step feeds the relaxed token ``y_t @ E`` (E the embedding) to the
        LSTM. ``hard=True``: every row is exactly one-hot (the token), and its gradient is that of the
        soft sample, the straight-through Gumbel estimator ([Jang2017], Sec. 2.2). Uses torch's global
        generator (as training steps must)."""
        if not tau > 0:
            raise ConfigError(f"tau={tau!r} must be > 0 (the Gumbel-softmax temperature)")
        n = int(n)
        E = self.embed.weight[: self.vocab_size]                              # (V, emb): no start token
        x = self.embed(torch.full((n,), self.start_token, dtype=torch.long, device=self._device()))
        state, out = None, []
        for _ in range(self.seq_len):
            h, state = self.lstm(x.unsqueeze(1), state)
            logits = self.out(h[:, 0])                                        # (n, V)
            y = F.gumbel_softmax(logits, tau=tau, hard=hard)                  # (n, V): one-hot if hard
            out.append(y)
            x = y @ E                                                         # (n, emb): differentiable
        return torch.stack(out, dim=1)                                        # (n, T, V)


def _check_temperature(temperature) -> None:
    if not (isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and temperature > 0
            and math.isfinite(temperature)):
        raise ConfigError(f"temperature={temperature!r} must be a finite number > 0 (1 = the model as trained)")


class OracleLSTM(LSTMGenerator):
    """The oracle of [Yu2017]'s synthetic experiment: an :class:`LSTMGenerator` whose parameters are all
    drawn from N(0, 1) ("we first initialize the parameters of an LSTM network following the normal
    distribution N(0, 1) as the oracle", Training Setting), from ``torch.Generator().manual_seed(seed)``,
    and then frozen. It plays the real data: :meth:`sample` draws the training set, and :meth:`nll`
    (nats, summed over the sequence) is the exact likelihood of any sequence, which real text never gives.

    The N(0, 1) scale matters: PyTorch's default initialisation (uniform in +-1/sqrt(hidden)) gives an
    almost uniform next-token distribution, a "language" with no structure to learn.
    """

    def __init__(self, vocab_size: int, hidden_dim: int, seq_len: int, seed: int, emb_dim: Optional[int] = None):
        super().__init__(vocab_size, hidden_dim, seq_len, emb_dim)
        self.seed = int(seed)
        self.config["seed"] = self.seed
        g = torch.Generator().manual_seed(self.seed)
        with torch.no_grad():
            for p in self.parameters():                  # embedding, LSTM weights and biases, output layer
                p.copy_(torch.randn(p.shape, generator=g))
                p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):                  # the oracle never trains
        return super().train(False)


# ============================================================================ the discriminator
class CNNDiscriminator(nn.Module):
    """D_phi: the CNN sentence classifier of [Kim2014] as SeqGAN uses it ([Yu2017], eqs. 11-12 and the
    appendix, eqs. 21-25): token embeddings ``E (n, T, k)``; for every window size ``l`` in
    ``filter_sizes``, ``num_filters`` kernels ``w (l x k)`` with ReLU, max-over-time pooling; a highway
    layer ``tau * relu(W_H c) + (1 - tau) * c``; dropout; one logit per sequence (``D = sigmoid(logit)``).

    ``forward`` takes token ids ``(n, T)`` or rows over the vocabulary ``(n, T, V)`` (the Gumbel
    generator's one-hot output), embedded as ``x @ E``: the same D for both GANs.
    The paper's Table 5 (T = 20): windows 1..10, 15, 20 with 100-200 kernels each, embedding 64.
    """

    def __init__(self, vocab_size: int, seq_len: int, emb_dim: int = 16, filter_sizes=(1, 2, 3, 4, 6, 8),
                 num_filters: int = 16, dropout: float = 0.25):
        super().__init__()
        sizes = tuple(int(s) for s in filter_sizes)
        if not sizes or min(sizes) < 1 or max(sizes) > seq_len:
            raise ConfigError(f"filter_sizes={filter_sizes!r}: every window must be between 1 and seq_len={seq_len}")
        if not 0 <= dropout < 1:
            raise ConfigError(f"dropout={dropout!r} must be in [0, 1)")
        self.vocab_size, self.seq_len = int(vocab_size), int(seq_len)
        self.config = {"vocab_size": self.vocab_size, "seq_len": self.seq_len, "emb_dim": int(emb_dim),
                       "filter_sizes": list(sizes), "num_filters": int(num_filters), "dropout": float(dropout)}
        self.embed = nn.Embedding(vocab_size, emb_dim)
        self.convs = nn.ModuleList([nn.Conv1d(emb_dim, num_filters, l) for l in sizes])
        width = num_filters * len(sizes)
        self.highway = nn.Linear(width, 2 * width)        # H (transform) and the gate tau, eq. 24
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype in (torch.int64, torch.int32):
            e = self.embed(x.long())                                  # (n, T, k)
        else:
            e = x.to(self.embed.weight.dtype) @ self.embed.weight     # (n, T, V) @ (V, k) -> (n, T, k)
        if e.shape[1] != self.seq_len:
            raise ConfigError(f"D expects sequences of {self.seq_len} tokens, got {e.shape[1]}")
        e = e.transpose(1, 2)                                         # (n, k, T): channels = embedding
        c = torch.cat([F.relu(conv(e)).amax(dim=2) for conv in self.convs], dim=1)   # max over time: (n, F*|sizes|)
        h, gate = self.highway(c).chunk(2, dim=1)
        gate = torch.sigmoid(gate)                                    # transform gate, eq. 24
        c = gate * F.relu(h) + (1 - gate) * c                         # highway
        return self.out(self.dropout(c)).squeeze(1)                   # (n,) logits


# ============================================================================ SeqGAN's maths
@torch.no_grad()
def rollout_rewards(G: LSTMGenerator, D: nn.Module, tokens: torch.Tensor, n_rollouts: int,
                    generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """SeqGAN's action values by Monte-Carlo search, [Yu2017] eq. (4), for every token of ``tokens``
    ``(n, T)`` -> ``(n, T)``:

        Q(s = Y_1:t-1, a = y_t) = 1/N sum_n D(Y^n_1:T),  Y^n_1:T ~ MC^G(Y_1:t; N)    for t < T
                                = D(Y_1:T)                                           for t = T

    D(Y) = sigmoid(logit) is D's probability that Y is real, taken in eval mode (no dropout), so a
    sequence's reward is a number, not a draw. The roll-out policy is ``G`` itself (the paper: "G_beta
    is set the same as the generator"). All ``(T - 1) N n`` completions are sampled in one batch:
    row block ``t`` keeps the first ``t`` tokens and samples the rest."""
    from .models import eval_mode

    tokens = G.check_tokens(tokens)
    n, T = tokens.shape
    N = int(n_rollouts)
    if N < 1:
        raise ConfigError(f"n_rollouts={n_rollouts!r} must be >= 1")
    with eval_mode(D):
        final = torch.sigmoid(D(tokens)).double()                              # (n,): t = T
        if T == 1:
            return final.unsqueeze(1)
        lengths = torch.arange(1, T, device=tokens.device).repeat_interleave(N * n)   # ((T-1) N n,): t
        prefix = tokens.repeat((T - 1) * N, 1)                                 # ((T-1) N n, T)
        done = G.sample(prefix.shape[0], generator=generator, prefix=prefix, prefix_len=lengths)
        scores = torch.sigmoid(D(done)).double().view(T - 1, N, n)             # D of every completion
    q = scores.mean(dim=1).T                                                   # (n, T-1): mean over N
    return torch.cat([q, final.unsqueeze(1)], dim=1)                           # (n, T)


def reinforce_loss(log_probs: torch.Tensor, rewards: torch.Tensor, baseline=None) -> torch.Tensor:
    """The policy-gradient step of [Yu2017] eqs. (7)-(8) (REINFORCE, [Williams1992]) as a loss to
    minimise: its gradient is minus the estimate

        grad J(theta) ~ 1/n sum_sequences sum_t grad log G(y_t | Y_1:t-1) * (Q(Y_1:t-1, y_t) - b)

    ``log_probs`` ``(n, T)`` (differentiable, from :meth:`LSTMGenerator.token_log_probs` of the sampled
    tokens), ``rewards`` ``(n, T)`` (treated as constants), ``baseline`` ``b``: None (the paper), a
    number or a tensor broadcastable to ``(n, T)``. Any ``b`` not depending on ``y_t`` leaves the
    expectation unchanged (E[grad log G] = 0) and can lower the variance."""
    if log_probs.shape != rewards.shape:
        raise ValueError(f"log_probs {tuple(log_probs.shape)} and rewards {tuple(rewards.shape)} must have the same shape")
    advantage = rewards.detach().to(log_probs.dtype)
    if baseline is not None:
        advantage = advantage - torch.as_tensor(baseline, dtype=log_probs.dtype, device=log_probs.device).detach()
    return -(log_probs * advantage).sum(dim=1).mean()        # -(1/n) sum_i sum_t log G(y_t|.) (Q_t - b)


def mle_loss(G: LSTMGenerator, tokens: torch.Tensor) -> torch.Tensor:
    """Maximum-likelihood training by teacher forcing (the pre-training of [Yu2017], Algorithm 1 line 2):
    the mean over sequences and positions of ``-log G(y_t | y_1..y_{t-1})``, i.e. the per-token NLL."""
    logits = G(tokens)                                                         # (n, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1))   # -1/(nT) sum log G


# ============================================================================ the metrics
@dataclass(frozen=True)
class NLL:
    """A negative log-likelihood in nats, averaged over sequences, ``per_sequence`` (summed over the
    ``seq_len`` tokens) and ``per_token`` (``per_sequence / seq_len``), with the standard error of the
    mean of ``per_sequence`` over the ``n`` sequences it was measured on."""
    per_sequence: float
    per_token: float
    sem_per_sequence: float
    n: int

    def as_dict(self) -> dict:
        return {"per_sequence": self.per_sequence, "per_token": self.per_token,
                "sem_per_sequence": self.sem_per_sequence, "n": self.n}


def _nll_summary(values: torch.Tensor, seq_len: int) -> NLL:
    v = values.double()
    sem = float(v.std(unbiased=True) / math.sqrt(len(v))) if len(v) > 1 else 0.0
    mean = float(v.mean())
    return NLL(per_sequence=mean, per_token=mean / seq_len, sem_per_sequence=sem, n=int(len(v)))


@torch.no_grad()
def nll_oracle(oracle: OracleLSTM, model: LSTMGenerator, n: int = 2000, seed: int = 0,
               temperature: float = 1.0, batch_size: int = 1000) -> NLL:
    """NLL-oracle ([Yu2017], eq. 13 of the arXiv version): the oracle's negative log-likelihood of ``n``
    sequences sampled from ``model`` at ``temperature`` (``seed``: the draw). A measure of **quality**:
    low when the model only says what the oracle finds likely -- and lowest for a model that always
    says the oracle's single most likely sequence, so it says nothing about diversity."""
    if model.seq_len != oracle.seq_len or model.vocab_size != oracle.vocab_size:
        raise ConfigError(f"model (V={model.vocab_size}, T={model.seq_len}) and oracle "
                          f"(V={oracle.vocab_size}, T={oracle.seq_len}) must share vocabulary and length")
    g = torch.Generator(device=model._device()).manual_seed(int(seed))
    vals = []
    for i in range(0, int(n), batch_size):
        y = model.sample(min(batch_size, int(n) - i), generator=g, temperature=temperature)
        vals.append(oracle.nll(y.to(oracle._device())).cpu())
    return _nll_summary(torch.cat(vals), oracle.seq_len)


@torch.no_grad()
def nll_test(model: LSTMGenerator, test_tokens: torch.Tensor, temperature: float = 1.0,
             batch_size: int = 1000) -> NLL:
    """NLL-test: ``model``'s (at ``temperature``) negative log-likelihood of held-out oracle samples
    ``test_tokens``. A measure of **diversity** (coverage): a model that puts little probability on
    some of the oracle's sequences pays for each of them, however good its own samples are."""
    vals = [model.nll(test_tokens[i:i + batch_size].to(model._device()), temperature).cpu()
            for i in range(0, len(test_tokens), batch_size)]
    return _nll_summary(torch.cat(vals), model.seq_len)


# ============================================================================ the experiment's settings
@dataclass
class SequenceGANConfig:
    """Every setting of notebook 13's oracle experiment: [Yu2017]'s synthetic data experiment scaled for
    a CPU. The paper's values (or, where the paper gives none, those of the authors' code,
    github.com/LantaoYu/SeqGAN) are in the comments; ours are smaller so that a round of SeqGAN takes
    about a second on a laptop CPU."""

    # ---- the oracle and its data
    vocab_size: int = 32        # authors' code: 5 000 tokens; D's and the rollouts' cost grow with it
    seq_len: int = 12           # paper: 20; the rollouts of eq. (4) cost ~T^2 LSTM steps per sequence
    oracle_hidden: int = 32     # authors' code: hidden 32, embedding 32; parameters N(0, 1) (paper)
    oracle_seed: int = 0        # which random "language": one oracle for every run that is compared
    n_train: int = 10_000       # paper: "10,000 sequences ... as the training set S"
    n_test: int = 5_000         # held-out oracle sequences, never trained on: NLL-test (diversity)
    data_seed: int = 1          # the draw of S and of the test set from the oracle
    # ---- G (the same structure as the oracle, as in the paper)
    hidden_dim: int = 32        # authors' code: 32
    # ---- D: Kim-2014 CNN with a highway layer (paper Table 5 for T = 20: windows 1-10, 15, 20; 100-200 kernels)
    d_emb_dim: int = 16         # authors' code: 64
    d_filter_sizes: tuple = (1, 2, 3, 4, 6, 8, 10, 12)   # windows up to T, as the paper's "from 1 to T"
    d_num_filters: int = 16     # kernels per window (paper: 100-200); 128 features in all
    d_dropout: float = 0.25     # authors' code: keep probability 0.75
    # ---- optimisation
    seed: int = 0               # initial weights of G and D and every training draw
    batch_size: int = 64        # authors' code: 64 (MLE batches, sequences per G step, D batches)
    lr_mle: float = 1e-2        # Adam, authors' code: 0.01 (pre-training and G steps alike)
    lr_g: float = 1e-3          # Adam for the adversarial G steps; authors' code 0.01, which made our small G worse
    lr_d: float = 1e-3          # Adam; authors' code 1e-4, with ~600x our D updates per G step (5 x 3 x ~312 vs 8)
    grad_clip: float = 5.0      # G's gradients clipped to this global norm (authors' code: 5.0)
    # ---- the adversarial rounds (Algorithm 1)
    d_pretrain: int = 50        # rounds of D-only training before the first G step (Algorithm 1, lines 4-5)
    d_steps: int = 1            # d-steps per round (authors' code: 5)
    d_epochs: int = 1           # k, epochs over each d-step's data (authors' code: 3)
    d_samples: int = 512        # fresh negatives per d-step, and as many positives from S (paper: |S|)
    n_rollouts: int = 8         # N of eq. (4) (authors' code: 16)
    pg_baseline: bool = False   # subtract the batch's mean reward per position (the paper has no baseline)
    gumbel_tau: float = 1.0     # temperature of the Gumbel-softmax GAN's relaxed samples
    # ---- evaluation
    eval_samples: int = 2_000   # sequences per NLL-oracle estimate (paper: 100 000)
    eval_seed: int = 12_345     # the draw behind every NLL-oracle: the same for every model and step

    def __post_init__(self):
        ints = ("vocab_size", "seq_len", "oracle_hidden", "n_train", "n_test", "hidden_dim", "d_emb_dim",
                "d_num_filters", "batch_size", "d_steps", "d_epochs", "d_samples", "n_rollouts", "eval_samples")
        for name in ints:
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"SequenceGANConfig.{name}={v!r} must be a whole number >= 1")
        if not isinstance(self.d_pretrain, int) or self.d_pretrain < 0:
            raise ConfigError(f"SequenceGANConfig.d_pretrain={self.d_pretrain!r} must be a whole number >= 0")
        for name in ("lr_mle", "lr_g", "lr_d", "grad_clip", "gumbel_tau"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
                raise ConfigError(f"SequenceGANConfig.{name}={v!r} must be a number > 0")
        self.d_filter_sizes = tuple(int(s) for s in self.d_filter_sizes)
        if max(self.d_filter_sizes) > self.seq_len:
            raise ConfigError(f"d_filter_sizes={self.d_filter_sizes} has windows longer than seq_len={self.seq_len}")
        if self.d_samples < self.batch_size:
            raise ConfigError(f"d_samples={self.d_samples} must be at least batch_size={self.batch_size}")
        if self.n_train < self.d_samples:
            raise ConfigError(f"n_train={self.n_train} must be at least d_samples={self.d_samples}")

    def make_generator(self) -> LSTMGenerator:
        return LSTMGenerator(self.vocab_size, self.hidden_dim, self.seq_len)

    def make_discriminator(self) -> CNNDiscriminator:
        return CNNDiscriminator(self.vocab_size, self.seq_len, self.d_emb_dim, self.d_filter_sizes,
                                self.d_num_filters, self.d_dropout)


@dataclass
class OracleData:
    """The oracle, its training set S ``(n_train, T)`` and the held-out test set ``(n_test, T)``."""
    oracle: OracleLSTM
    train: torch.Tensor
    test: torch.Tensor

    def describe(self) -> dict:
        return {"vocab_size": self.oracle.vocab_size, "seq_len": self.oracle.seq_len,
                "oracle_seed": self.oracle.seed, "n_train": int(len(self.train)), "n_test": int(len(self.test))}


def make_oracle_data(cfg: SequenceGANConfig) -> OracleData:
    """The oracle of ``cfg`` and the two sets drawn from it (seeded: the same in every process)."""
    oracle = OracleLSTM(cfg.vocab_size, cfg.oracle_hidden, cfg.seq_len, seed=cfg.oracle_seed)
    g = torch.Generator().manual_seed(cfg.data_seed)
    train = oracle.sample(cfg.n_train, generator=g)
    test = oracle.sample(cfg.n_test, generator=g)
    return OracleData(oracle, train, test)


# ============================================================================ the three trainings
class _OracleTask(Task):
    """What the three trainings share: G and its optimiser, the loader over S, the evaluation curve
    (:meth:`snapshot`: NLL-oracle and NLL-test at ``sample_every`` steps, kept in the checkpoint) and the
    training time (wall-clock seconds of the steps alone, evaluation excluded)."""

    def __init__(self, cfg: SequenceGANConfig, data: OracleData, generator_state: Optional[dict] = None):
        from .data import InMemoryLoader

        if data.oracle.vocab_size != cfg.vocab_size or data.oracle.seq_len != cfg.seq_len:
            raise ConfigError("the data's oracle does not match the config (vocab_size / seq_len)")
        self.config, self.data = cfg, data
        torch.manual_seed(cfg.seed)                     # initial weights, then every draw of the training steps
        self.G = cfg.make_generator()
        if generator_state is not None:                 # e.g. the MLE-pretrained G
            self.G.load_state_dict(generator_state)
        self.loader = InMemoryLoader(data.train, cfg.batch_size, seed=cfg.seed)
        self.loader.name = f"oracle seed {data.oracle.seed} (V={cfg.vocab_size}, T={cfg.seq_len}), data seed {cfg.data_seed}"
        self.curve: dict = {"step": [], "seconds": []}      # + every key of evaluate(), one value per snapshot
        self.seconds = 0.0

    def items_per_step(self) -> int:
        return self.config.batch_size

    def extra_state(self) -> dict:
        return {"curve": {k: list(v) for k, v in self.curve.items()}, "seconds": float(self.seconds)}

    def load_extra_state(self, state: dict) -> None:
        if "curve" in state:
            self.curve = {k: list(v) for k, v in state["curve"].items()}
            self.seconds = float(state["seconds"])

    def _clip_and_step(self, opt, loss) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.G.parameters(), self.config.grad_clip)
        opt.step()

    def evaluate(self) -> dict:
        """NLL-oracle (the same ``eval_seed`` draw every time) and NLL-test of G now, per token."""
        cfg = self.config
        q = nll_oracle(self.data.oracle, self.G, cfg.eval_samples, seed=cfg.eval_seed)
        d = nll_test(self.G, self.data.test)
        return {"nll_oracle": q.per_token, "nll_oracle_sem": q.sem_per_sequence / cfg.seq_len, "nll_test": d.per_token}

    def snapshot(self, step: int, out_dir) -> None:
        if self.curve["step"] and self.curve["step"][-1] == step:
            return
        ev = self.evaluate()
        self.curve["step"].append(int(step))
        self.curve["seconds"].append(float(self.seconds))
        for k, v in ev.items():
            self.curve.setdefault(k, []).append(float(v))

    def step(self, step: int) -> dict:
        t0 = time.perf_counter()
        out = self.train_step(step)
        self.seconds += time.perf_counter() - t0
        return out

    def train_step(self, step: int) -> dict:
        raise NotImplementedError


class MLETask(_OracleTask):
    """Maximum-likelihood training of G on S by teacher forcing ([Yu2017] Algorithm 1, line 2: the
    pre-training; trained on, it is the MLE baseline). One step = one batch of ``batch_size`` sequences."""

    kind = "seq-mle"

    def __init__(self, cfg: SequenceGANConfig, data: OracleData, generator_state: Optional[dict] = None):
        super().__init__(cfg, data, generator_state)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_mle)

    def modules(self) -> dict:
        return {"G": self.G}

    def optimizers(self) -> dict:
        return {"G": self.opt_g}

    def loaders(self) -> dict:
        return {"train": self.loader}

    def train_step(self, step: int) -> dict:
        real = self.loader.next_batch()                      # (B, T) sequences of S
        loss = mle_loss(self.G, real)                        # -1/(BT) sum_t log G(y_t | y_<t)
        self._clip_and_step(self.opt_g, loss)
        return {"loss_mle": loss.detach()}


class _AdversarialTask(_OracleTask):
    """A GAN on the oracle: G (usually MLE-pretrained), the CNN discriminator D, and rounds of
    (1) d-steps: fresh negatives from G, as many positives from S, ``d_epochs`` epochs of eq. (5);
    (2) one G step (:meth:`update_g`), skipped during the first ``d_pretrain`` rounds (D's pre-training,
    Algorithm 1 lines 4-5). One loop step = one round."""

    def __init__(self, cfg: SequenceGANConfig, data: OracleData, generator_state: Optional[dict] = None):
        from .data import InMemoryLoader

        super().__init__(cfg, data, generator_state)
        self.D = cfg.make_discriminator()
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d)
        self.positives = InMemoryLoader(data.train, cfg.d_samples, seed=cfg.seed + 1)   # D's real examples

    def modules(self) -> dict:
        return {"G": self.G, "D": self.D}

    def optimizers(self) -> dict:
        return {"G": self.opt_g, "D": self.opt_d}

    def loaders(self) -> dict:
        return {"train": self.loader, "positives": self.positives}

    def evaluate(self) -> dict:
        """G's NLLs, and D's accuracy on held-out data: the first ``eval_samples`` test sequences (real)
        against as many fresh samples of G (the ``eval_seed`` draw), D in eval mode."""
        from .models import eval_mode

        out = super().evaluate()
        cfg = self.config
        n = min(cfg.eval_samples, len(self.data.test))
        with torch.no_grad(), eval_mode(self.D):
            fake = self.G.sample(n, generator=torch.Generator().manual_seed(cfg.eval_seed + 1))
            right = (self.D(self.data.test[:n]) > 0).double().mean() + (self.D(fake) < 0).double().mean()
        out["d_accuracy"] = float(right) / 2
        return out

    def update_d(self) -> dict:
        """The d-steps of Algorithm 1: each draws ``d_samples`` negatives from G and as many positives
        from S, and trains D on them for ``d_epochs`` epochs of minibatches (eq. 5, binary cross-entropy)."""
        from .losses import d_loss_bce

        cfg, B = self.config, self.config.batch_size
        losses, real_scores, fake_scores = [], [], []
        for _ in range(cfg.d_steps):
            fake = self.G.sample(cfg.d_samples)                  # negatives ~ G (Algorithm 1, line 15)
            real = self.positives.next_batch()                   # positives from S
            for _ in range(cfg.d_epochs):
                pr, pf = torch.randperm(cfg.d_samples), torch.randperm(cfg.d_samples)
                for i in range(0, cfg.d_samples - B + 1, B):
                    s_real, s_fake = self.D(real[pr[i:i + B]]), self.D(fake[pf[i:i + B]])
                    loss = d_loss_bce(s_real, s_fake)            # eq. (5): -E log D(Y) - E log(1 - D(G))
                    self.opt_d.zero_grad(set_to_none=True)
                    loss.backward()
                    self.opt_d.step()
                    losses.append(loss.detach())
                    real_scores.append(torch.sigmoid(s_real.detach()).mean())
                    fake_scores.append(torch.sigmoid(s_fake.detach()).mean())
        return {"loss_D": torch.stack(losses).mean(), "D_real": torch.stack(real_scores).mean(),
                "D_fake": torch.stack(fake_scores).mean()}

    def train_step(self, step: int) -> dict:
        out = self.update_d()                                    # (1) Update D: the d-steps
        if step >= self.config.d_pretrain:                       # (2) Update G: one g-step
            out.update(self.update_g())
            out["g_step"] = torch.tensor(1.0)
        else:                                                    # D's pre-training: no G step yet
            out.update({"loss_G": torch.tensor(0.0), "reward": torch.tensor(0.0), "g_step": torch.tensor(0.0)})
        return out

    def update_g(self) -> dict:
        raise NotImplementedError


class SeqGANTask(_AdversarialTask):
    """SeqGAN ([Yu2017], Algorithm 1) on the oracle, one round per step:

        (1) d-steps: negatives ~ G, positives from S, D trained by eq. (5)
        (2) g-step:  Y ~ G;  Q(y_t) by N Monte-Carlo roll-outs and D (eq. 4);
                     theta <- theta + lr * sum_t grad log G(y_t | Y_1:t-1) * Q(y_t)   (eqs. 7-8, REINFORCE)
    """

    kind = "seqgan"

    def update_g(self) -> dict:
        cfg = self.config
        Y = self.G.sample(cfg.batch_size)                          # Y_1:T ~ G_theta (Algorithm 1, line 8)
        Q = rollout_rewards(self.G, self.D, Y, cfg.n_rollouts)      # (B, T): eq. (4), lines 9-11
        baseline = Q.mean(dim=0, keepdim=True) if cfg.pg_baseline else None
        loss = reinforce_loss(self.G.token_log_probs(Y), Q, baseline)   # eqs. (7)-(8), line 12
        self._clip_and_step(self.opt_g, loss)
        return {"loss_G": loss.detach().float(), "reward": Q.mean().float()}


class GumbelGANTask(_AdversarialTask):
    """The relaxed alternative ([Kusner2016]; [Jang2017]): the same G, D and rounds as :class:`SeqGANTask`,
    but G's step back-propagates D's verdict through straight-through Gumbel-softmax samples
    (:meth:`LSTMGenerator.sample_gumbel`, ``hard=True``: D sees exact one-hot tokens) with the
    non-saturating loss -E log D(G). No rollouts, no REINFORCE; the gradient is biased instead."""

    kind = "seq-gumbel"

    def update_g(self) -> dict:
        from .losses import g_loss_nonsaturating
        from .models import eval_mode

        cfg = self.config
        y = self.G.sample_gumbel(cfg.batch_size, tau=cfg.gumbel_tau, hard=True)   # (B, T, V) one-hot, ST gradient
        with eval_mode(self.D):                                     # D's verdict without dropout, as for SeqGAN
            logits = self.D(y)
        loss = g_loss_nonsaturating(logits)                         # -E log D(G)
        self._clip_and_step(self.opt_g, loss)
        self.D.zero_grad(set_to_none=True)                          # the G step's gradients into D are discarded
        return {"loss_G": loss.detach(), "reward": torch.sigmoid(logits.detach()).mean()}
