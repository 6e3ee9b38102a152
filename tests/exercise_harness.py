"""Shared by tests/test_exercises_nbNN.py: load a reference solution file from solutions/."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_solutions(filename: str):
    """Import ``solutions/<filename>`` (names start with digits, so not importable by name)."""
    spec = importlib.util.spec_from_file_location(f"solutions_{Path(filename).stem}", ROOT / "solutions" / filename)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
