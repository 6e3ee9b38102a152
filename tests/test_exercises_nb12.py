"""The exercise checks of notebook 12 accept the reference solutions, report unsolved stubs without failing,
and reject wrong answers, each with its own message (so a check that passes everything cannot slip in)."""
import pytest
import torch
import torch.nn.functional as F

from gan_utils.exercises import nb12
from exercise_harness import load_solutions, rng_untouched_test, standard_check_tests

SOL = load_solutions("12_stylegan.py")
CHECKS = {
    "modulated_conv": nb12.check_modulated_conv,
    "mix_styles": nb12.check_mix_styles,
    "path_length_w": nb12.check_path_length_w,
}

# the reference solutions pass; unsolved stubs report "not attempted yet" (tests/exercise_harness.py)
test_reference_solution_passes_its_check, test_unsolved_stub_reports_not_attempted_without_failing = \
    standard_check_tests(CHECKS, SOL)

test_checks_leave_the_global_random_stream_alone = rng_untouched_test(CHECKS, SOL)


# ---------------------------------------------------------------- wrong answers must fail
def _modconv(x, weight, styles, demod=True, axes=(1, 2, 3), on_output=False, same_style=False):
    out = []
    for b in range(x.shape[0]):
        s = styles[0 if same_style else b]
        w = weight * (s[:, None, None, None] if on_output else s[None, :, None, None])
        if demod:
            w = w / torch.sqrt(w.square().sum(dim=axes, keepdim=True) + 1e-8)
        out.append(F.conv2d(x[b:b + 1], w, padding=1))
    return torch.cat(out)


def _mix(w1, w2, crossover, num_ws, shift=0, swap=False):
    a, b = (w2, w1) if swap else (w1, w2)
    layers = torch.arange(num_ws)[None, :, None]
    return torch.where(layers < crossover + shift, a[:, None, :], b[:, None, :])


def _pl(G, z0, z1, t, eps, divide=2, sqrt=False, noise="const"):
    w0, w1 = G.mapping(z0), G.mapping(z1)
    t = t[:, None]
    xa = G.synthesis(G.broadcast(w0 + t * (w1 - w0)), noise_mode=noise)
    xb = G.synthesis(G.broadcast(w0 + (t + eps) * (w1 - w0)), noise_mode=noise)
    d = (xa - xb).square().flatten(1).sum(1)
    return (d.sqrt() if sqrt else d) / eps ** divide


WRONG = [
    ("modulated_conv", lambda x, w, s: _modconv(x, w, s, demod=False), "without demodulation"),
    ("modulated_conv", lambda x, w, s: _modconv(x, w, s, axes=(0, 2, 3)), "wrong axes"),
    ("modulated_conv", lambda x, w, s: _modconv(x, w, s, on_output=True), "*input* channels"),
    ("modulated_conv", lambda x, w, s: _modconv(x, w, s, same_style=True), "first sample's style"),
    ("modulated_conv", lambda x, w, s: F.conv2d(x, w, padding=1), "not applied"),
    ("modulated_conv", lambda x, w, s: _modconv(x, w, s)[:, :, 1:-1, 1:-1], "shape"),
    ("mix_styles", lambda w1, w2, c, L: _mix(w1, w2, c, L, swap=True), "swapped"),
    ("mix_styles", lambda w1, w2, c, L: _mix(w1, w2, c, L, shift=1), "off by one"),
    ("mix_styles", lambda w1, w2, c, L: _mix(w1, w2, c, L, shift=-1), "off by one"),
    ("mix_styles", lambda w1, w2, c, L: w1[:, None].expand(-1, L, -1), "wrong layers"),
    ("path_length_w", lambda G, z0, z1, t, e: _pl(G, z0, z1, t, e, divide=0), "divide by eps^2:"),
    ("path_length_w", lambda G, z0, z1, t, e: _pl(G, z0, z1, t, e, divide=1), "not eps"),
    ("path_length_w", lambda G, z0, z1, t, e: _pl(G, z0, z1, t, e, sqrt=True), "*squared* distance"),
    ("path_length_w", lambda G, z0, z1, t, e: _pl(G, z0, z1, t, e, noise="random"), "different noise"),
    ("path_length_w", lambda G, z0, z1, t, e: _pl(G, z0, z1, t, e) * 0.5, "wrong values"),
]


@pytest.mark.parametrize("name, wrong, hint", WRONG, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(WRONG)])
def test_wrong_answer_fails_with_a_helpful_message(name, wrong, hint):
    # guards against: a check that accepts anything (the learner would "pass" a wrong answer)
    with pytest.raises(AssertionError) as info:
        CHECKS[name](wrong)
    assert hint in str(info.value), f"message should mention {hint!r}: {info.value}"
