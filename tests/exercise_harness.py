"""Shared by tests/test_exercises_nbNN.py: load a reference solution file from solutions/, and the
two tests every exercise check must pass."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_solutions(filename: str):
    """Import ``solutions/<filename>`` (names start with digits, so not importable by name)."""
    spec = importlib.util.spec_from_file_location(f"solutions_{Path(filename).stem}", ROOT / "solutions" / filename)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def standard_check_tests(checks: dict, solutions):
    """The two tests of every exercise check, for ``checks`` = {name: check} (the solution is
    ``solutions.<name>``) or {name: (check, solution_args)} (checks taking several functions).

    Use as ``test_a, test_b = standard_check_tests(CHECKS, SOL)`` at a test module's top level."""

    def resolve(name):
        entry = checks[name]
        return entry if isinstance(entry, tuple) else (entry, (getattr(solutions, name),))

    @pytest.mark.parametrize("name", sorted(checks))
    def test_reference_solution_passes_its_check(name, capsys):
        # guards against: a check (or a solution) drifting so the published solution is "wrong"
        check, args = resolve(name)
        assert check(*args) is True
        assert "not attempted" not in capsys.readouterr().out

    @pytest.mark.parametrize("name", sorted(checks))
    def test_unsolved_stub_reports_not_attempted_without_failing(name, capsys):
        # guards against: the notebook failing CI because the learner stubs are (rightly) unsolved
        def stub(*args):
            raise NotImplementedError

        check, args = resolve(name)
        assert check(*[stub] * len(args)) is False
        assert "not attempted yet" in capsys.readouterr().out

    return test_reference_solution_passes_its_check, test_unsolved_stub_reports_not_attempted_without_failing


def rng_untouched_test(checks: dict, solutions, names=None):
    """A test that running the checks ``names`` (default: all) leaves torch's global random stream
    where it was, so a check cell in a notebook does not change the seeded run after it."""
    import torch

    def test_checks_leave_the_global_random_stream_alone():
        # guards against: running a check in the notebook changing the seeded training run after it
        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        for name in names or sorted(checks):
            entry = checks[name]
            check, args = entry if isinstance(entry, tuple) else (entry, (getattr(solutions, name),))
            check(*args)
        assert torch.equal(torch.rand(3), expected)

    return test_checks_leave_the_global_random_stream_alone
