"""Metrics: mode coverage for toy mixtures (notebook 02) and FID and friends (notebook 06).

- :func:`mode_coverage`: modes hit by a 2-D generator (``modes``, notebook 02)
- :func:`fid`, :func:`frechet_distance`: Fréchet distance on features, with its protocol
  (``fid``, notebook 06; Heusel et al. 2017)
- :class:`InceptionFeatures`, :class:`ClassifierFeatures`: the feature extractors (``features``);
  the offline classifier and its training live in ``classifier``
- :func:`inception_score` (Salimans et al. 2016), :func:`precision_recall` (Kynkäänniemi et al. 2019)
- :func:`kid`: the Kernel Inception Distance, unbiased at every n (``kid``, notebook 06; Bińkowski et al. 2018)
- :func:`nearest_neighbours`, :func:`distance_ratio`: nearest training images of generated samples in
  feature space, the memorisation check (``memorisation``, notebook 06; reusable in 08)
- :func:`perceptual_path_length`: how smoothly images change along paths in Z or W (Karras et al. 2019),
  with the shipped classifier's features, "PPL-classifier" (``ppl``, notebook 12)
"""
from .features import (ClassifierFeatures, FeatureExtractor, InceptionFeatures, InceptionUnavailableError,
                       get_extractor, inception_available)
from .fid import FIDResult, feature_statistics, fid, frechet_distance, inception_score, real_floor, real_statistics
from .kid import KIDResult, kid, mmd2_unbiased, polynomial_kernel
from .memorisation import Neighbours, distance_ratio, nearest_neighbours
from .modes import ModeCoverage, mode_coverage
from .ppl import PPLResult, perceptual_path_length
from .prdc import PrecisionRecall, precision_recall

__all__ = ["ModeCoverage", "mode_coverage",
           "FIDResult", "fid", "frechet_distance", "feature_statistics", "real_statistics", "real_floor", "inception_score",
           "FeatureExtractor", "InceptionFeatures", "ClassifierFeatures", "InceptionUnavailableError",
           "get_extractor", "inception_available",
           "PrecisionRecall", "precision_recall",
           "KIDResult", "kid", "mmd2_unbiased", "polynomial_kernel",
           "Neighbours", "nearest_neighbours", "distance_ratio",
           "PPLResult", "perceptual_path_length"]
