"""Metrics: mode coverage for toy mixtures (notebook 02) and FID and friends (notebook 06)."""
from .modes import ModeCoverage, mode_coverage

__all__ = ["ModeCoverage", "mode_coverage"]
