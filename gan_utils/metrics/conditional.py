"""Metrics for class-conditional generators (taught in notebooks/09_conditional.ipynb).

A conditional generator G(z, y) answers a request: "a sneaker, please". Three questions, three numbers:

* **Does it make what was asked?** :func:`class_accuracy`: the fraction of samples made for class k
  that a classifier trained on the real data assigns to class k (the shipped Fashion-MNIST
  classifier of :mod:`gan_utils.metrics.classifier` by default; read it next to that classifier's
  own accuracy on real test images, which a *perfect* generator would match: not a ceiling, since a
  generator that makes only easy, typical samples can score above it), with the confusion matrix and the mean confidence (how sure the classifier is: AC-GAN pushes it up).
* **Does each class look like that class?** the per-class Fréchet distance: FD between the
  features of the samples of class k and of the real images of class k (FD-classifier on the
  classifier's penultimate features; not FID).
* **Is each class diverse?** per-class precision and recall (Kynkäänniemi et al. 2019, in
  :mod:`gan_utils.metrics.prdc`) of class k's samples against class k's real images: precision
  is fidelity, recall is intra-class diversity. A generator that draws one easy, typical sneaker
  every time keeps its accuracy and precision and loses recall.

:func:`evaluate_conditional` computes all of them in one pass (features and class probabilities
of one batch of samples per class); :func:`truncation_curve` measures the truncation trick
(BigGAN, Brock, Donahue, Simonyan 2019; :func:`gan_utils.models.truncated_normal`) as a
precision/recall curve: diversity given up, fidelity bought or not.

A generator scored here that is an EMA generator should first get its own BatchNorm statistics
(:func:`gan_utils.models.recompute_batchnorm_stats`; the EMA copies them from the raw G): notebook 09
does so before every evaluation.

Everything is computed at a stated ``n_per_class`` (generated and real alike): FD and the k-NN
radii of precision/recall depend on n, so compare numbers computed at the same n only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..models import eval_mode, recompute_batchnorm_stats, sample, truncated_normal
from .fid import feature_statistics, frechet_distance
from .prdc import PrecisionRecall, precision_recall

__all__ = ["ClassAccuracy", "ConditionalReport", "Reference", "class_accuracy", "evaluate_conditional",
           "generate_per_class", "per_class_fd", "per_class_precision_recall", "real_per_class", "reference_features",
           "truncation_curve"]


# ---------------------------------------------------------------- samples and references, class by class
def generate_per_class(G, n_per_class: int, seed: int = 0, truncation: Optional[float] = None,
                       batch_size: int = 500, classes: Optional[Sequence[int]] = None):
    """``(images, labels)``: ``n_per_class`` samples of each class of the conditional ``G`` (all of
    ``range(G.num_classes)`` or ``classes``), class after class, from codes drawn once with ``seed``
    (``truncation``: the truncated normal of :func:`gan_utils.models.truncated_normal`). Images are
    float32 in [-1, 1] on the CPU, labels int64."""
    k = getattr(G, "num_classes", None)
    if k is None:
        raise ValueError("generate_per_class needs a class-conditional generator (G.num_classes), got an "
                         "unconditional one")
    if not isinstance(n_per_class, int) or n_per_class < 1:
        raise ValueError(f"n_per_class={n_per_class!r} must be a whole number >= 1")
    classes = list(range(k)) if classes is None else [int(c) for c in classes]
    labels = torch.tensor(classes, dtype=torch.long).repeat_interleave(n_per_class)      # 0,0,...,1,1,...
    z = truncated_normal(len(labels), G.latent_dim, truncation, seed)
    return sample(G, len(labels), batch_size=batch_size, z=z, y=labels), labels


def real_per_class(dataset, n_per_class: int, seed: int = 0, classes: Optional[Sequence[int]] = None):
    """``(images, labels)``: ``n_per_class`` real images of each class of ``dataset`` (an
    :class:`~gan_utils.data.ImageDataset`), drawn without replacement with ``seed``, class after class;
    uint8 images as stored. Raises ``ValueError`` when a class has fewer images."""
    g = torch.Generator().manual_seed(seed)
    labels = dataset.labels
    classes = sorted(set(labels.tolist())) if classes is None else [int(c) for c in classes]
    idx = []
    for c in classes:
        rows = (labels == c).nonzero().view(-1)
        if len(rows) < n_per_class:
            raise ValueError(f"class {c} has {len(rows)} real images, fewer than n_per_class={n_per_class}")
        idx.append(rows[torch.randperm(len(rows), generator=g)[:n_per_class]])
    idx = torch.cat(idx)
    return dataset.images[idx], labels[idx].long()


def _default_extractor():
    from .features import ClassifierFeatures

    return ClassifierFeatures("fashion-mnist", device="cpu")


@torch.no_grad()
def _features_and_probs(images: torch.Tensor, extractor, classifier=None, batch_size: int = 1000):
    """Features ``(N, d)`` and class probabilities ``(N, K)`` of ``images``. With the classifier
    extractor (features = the classifier's penultimate layer) one pass gives both."""
    from ..data import to_float

    model = classifier if classifier is not None else getattr(extractor, "model", None)
    if model is None:
        raise ValueError("pass classifier= (an nn.Module giving class logits): the extractor has no classifier")
    feats, probs = [], []
    share = classifier is None and hasattr(model, "head") and hasattr(model, "features")
    with eval_mode(model):
        for chunk in images.split(batch_size):
            x = to_float(chunk) if chunk.dtype == torch.uint8 else chunk.float()
            if share:                                        # the SmallClassifier: features, then its head
                x = extractor.prepare(x)
                f = model.features(x)
                feats.append(f.float().cpu())
                probs.append(torch.softmax(model.head(f).float(), 1).cpu())
            else:
                feats.append(extractor(x).float().cpu())
                dev = next(model.parameters()).device
                probs.append(torch.softmax(model(x.to(dev)).float(), 1).cpu())
    return torch.cat(feats), torch.cat(probs)


# ---------------------------------------------------------------- the three questions
@dataclass
class ClassAccuracy:
    """Class accuracy of a conditional generator (or of labelled real images, what a perfect generator would match)."""

    accuracy: float                  # fraction classified as the class asked for, all classes together
    per_class: list                  # the same, per class asked for
    confidence: float                # mean probability the classifier gives to its top class
    confusion: torch.Tensor          # (K, K) counts: rows = class asked for, columns = class predicted
    n: int                           # samples in all

    def __str__(self) -> str:
        return (f"class accuracy {self.accuracy:.1%} over {self.n} samples (per class "
                f"{min(self.per_class):.0%}-{max(self.per_class):.0%}; mean confidence {self.confidence:.3f})")


def _accuracy(probs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> ClassAccuracy:
    pred = probs.argmax(1)
    conf = torch.zeros(num_classes, probs.shape[1], dtype=torch.long)
    conf.index_put_((labels, pred), torch.ones_like(labels), accumulate=True)          # rows: asked, cols: predicted
    per = [float(conf[c, c] / conf[c].sum()) if conf[c].sum() else float("nan") for c in range(num_classes)]
    return ClassAccuracy(accuracy=float((pred == labels).float().mean()), per_class=per,
                         confidence=float(probs.max(1).values.mean()), confusion=conf, n=len(labels))


def class_accuracy(source, labels=None, *, n_per_class: int = 1000, seed: int = 0, classifier=None,
                   truncation: Optional[float] = None) -> ClassAccuracy:
    """What fraction of "make class k" is classified k. ``source``: a conditional generator (sampled
    ``n_per_class`` times per class, seeded) or images ``(N, C, H, W)`` with their ``labels`` (real
    test images give the classifier's own accuracy: what a perfect generator would match). ``classifier``: an ``nn.Module``
    giving class logits for images in [-1, 1] (default: the shipped Fashion-MNIST classifier)."""
    from ..data import to_float

    if isinstance(source, torch.Tensor):
        if labels is None:
            raise ValueError("class_accuracy(images, labels): the labels of the images are needed")
        images, labels = source, torch.as_tensor(labels).long()
    else:
        images, labels = generate_per_class(source, n_per_class, seed, truncation)
    if classifier is None:
        from .classifier import pretrained_classifier

        classifier = pretrained_classifier("fashion-mnist")
    probs = []
    dev = next(classifier.parameters()).device
    with torch.no_grad(), eval_mode(classifier):
        for chunk in images.split(1000):
            x = to_float(chunk) if chunk.dtype == torch.uint8 else chunk.float()
            probs.append(torch.softmax(classifier(x.to(dev)).float(), 1).cpu())
    probs = torch.cat(probs)
    return _accuracy(probs, labels, max(int(labels.max()) + 1, probs.shape[1]))


def per_class_fd(fake_features, fake_labels, real_features, real_labels, classes: Sequence[int]) -> list:
    """Fréchet distance between the features of each class's samples and of its real images:
    ``[FD_k for k in classes]`` (the FD of :mod:`gan_utils.metrics.fid`, class by class)."""
    out = []
    for c in classes:
        f, r = fake_features[fake_labels == c], real_features[real_labels == c]
        if len(f) < 2 or len(r) < 2:
            raise ValueError(f"class {c}: {len(f)} generated and {len(r)} real feature rows; FD needs >= 2 of each")
        mu_f, sig_f = feature_statistics(f)
        mu_r, sig_r = feature_statistics(r)
        out.append(frechet_distance(mu_f, sig_f, mu_r, sig_r))
    return out


def per_class_precision_recall(fake_features, fake_labels, real_features, real_labels, classes: Sequence[int],
                               k: int = 3) -> list:
    """Precision and recall (and density, coverage) of each class's samples against its own real
    images: ``[PrecisionRecall for k in classes]``. Recall is the intra-class diversity."""
    return [precision_recall(real_features[real_labels == c], fake_features[fake_labels == c], k=k) for c in classes]


# ---------------------------------------------------------------- all at once
@dataclass
class Reference:
    """Features of ``n_per_class`` real images of each class, computed once and reused by every
    :func:`evaluate_conditional` / :func:`truncation_curve` call (:func:`reference_features`)."""

    features: torch.Tensor            # (K * n_per_class, d)
    labels: torch.Tensor              # (K * n_per_class,)
    classes: list
    class_names: list
    n_per_class: int


def reference_features(real, n_per_class: int, seed: int = 1, extractor=None, classes=None) -> Reference:
    """The real side of the conditional metrics: ``n_per_class`` images of each class of ``real`` (an
    ImageDataset with labels), drawn with ``seed``, through ``extractor`` (default: the shipped
    Fashion-MNIST classifier's features)."""
    extractor = extractor if extractor is not None else _default_extractor()
    x, y = real_per_class(real, n_per_class, seed, classes)
    f, _ = _features_and_probs(x, extractor)
    cls = sorted(set(y.tolist()))
    names = [real.classes[c] if c < len(getattr(real, "classes", ())) else str(c) for c in cls]
    return Reference(features=f, labels=y, classes=cls, class_names=names, n_per_class=n_per_class)


def _reference(real, n_per_class: int, seed: int, extractor, classes) -> Reference:
    if isinstance(real, Reference):
        if real.n_per_class != n_per_class:
            raise ValueError(f"the reference holds {real.n_per_class} real images per class but n_per_class="
                             f"{n_per_class}: compare generated and real images at the same n")
        return real
    return reference_features(real, n_per_class, seed, extractor, classes)


@dataclass
class ConditionalReport:
    """What :func:`evaluate_conditional` measured; ``rows()`` gives one dict per class."""

    accuracy: ClassAccuracy
    fd: list                          # per class
    pr: list                          # per class: PrecisionRecall
    classes: list
    class_names: list
    n_per_class: int
    truncation: Optional[float] = None
    extra: dict = field(default_factory=dict)

    @property
    def mean_fd(self) -> float:
        return float(np.mean(self.fd))

    @property
    def mean_precision(self) -> float:
        return float(np.mean([p.precision for p in self.pr]))

    @property
    def mean_recall(self) -> float:
        return float(np.mean([p.recall for p in self.pr]))

    def rows(self) -> list:
        return [{"class": c, "name": n, "accuracy": a, "fd": f, "precision": p.precision, "recall": p.recall}
                for c, n, a, f, p in zip(self.classes, self.class_names, self.accuracy.per_class, self.fd, self.pr)]

    def summary(self) -> dict:
        return {"accuracy": self.accuracy.accuracy, "confidence": self.accuracy.confidence, "fd": self.mean_fd,
                "precision": self.mean_precision, "recall": self.mean_recall}


def evaluate_conditional(G, real, *, n_per_class: int = 1000, seed: int = 0, extractor=None, classifier=None,
                         k: int = 3, truncation: Optional[float] = None, class_names=None,
                         real_seed: int = 1) -> ConditionalReport:
    """Class accuracy, per-class FD and per-class precision/recall of the conditional generator ``G``
    against ``real`` (an ImageDataset with labels, e.g. Fashion-MNIST's training set at G's image size,
    or a :class:`Reference` made once by :func:`reference_features`), with ``n_per_class`` generated
    and ``n_per_class`` real images per class.

    ``G`` may also be ``(images, labels)`` already made (real test images, for the reference row).
    ``extractor``: the features (default: the shipped Fashion-MNIST classifier's, FD-classifier),
    whose model also gives the class probabilities unless ``classifier`` is passed.
    """
    extractor = extractor if extractor is not None else _default_extractor()
    if isinstance(G, (tuple, list)):
        fake, fake_y = G
        fake_y = torch.as_tensor(fake_y).long()
        classes = sorted(set(fake_y.tolist()))
    else:
        fake, fake_y = generate_per_class(G, n_per_class, seed, truncation)
        classes = list(range(G.num_classes))
    ref = _reference(real, n_per_class, real_seed, extractor, classes)
    f_fake, p_fake = _features_and_probs(fake, extractor, classifier)
    acc = _accuracy(p_fake, fake_y, max(max(classes) + 1, p_fake.shape[1]))
    acc.per_class = [acc.per_class[c] for c in classes]
    names = list(class_names) if class_names is not None else [
        ref.class_names[ref.classes.index(c)] if c in ref.classes else str(c) for c in classes]
    return ConditionalReport(accuracy=acc, fd=per_class_fd(f_fake, fake_y, ref.features, ref.labels, classes),
                             pr=per_class_precision_recall(f_fake, fake_y, ref.features, ref.labels, classes, k=k),
                             classes=classes, class_names=names, n_per_class=n_per_class, truncation=truncation)


def truncation_curve(G, real, thresholds: Sequence[Optional[float]] = (None, 2.0, 1.5, 1.0, 0.5, 0.25), *,
                     n_per_class: int = 500, seed: int = 0, extractor=None, k: int = 3, progress: bool = True,
                     recompute_bn: bool = False) -> list:
    """The truncation trick measured: for each threshold t (None: no truncation), samples of every
    class from codes whose coordinates are redrawn until |z_i| <= t, scored against the same real
    images (``real``: an ImageDataset, or a :class:`Reference` of ``n_per_class`` images per class) by
    precision and recall (all classes together) and class accuracy. Returns one dict per
    threshold: ``{"truncation", "precision", "recall", "density", "coverage", "accuracy",
    "confidence"}``. Diversity (recall) falls as t shrinks; whether fidelity (precision) rises is a
    property of the generator. ``recompute_bn=True``: at each threshold, G's BatchNorm statistics are
    first re-estimated on codes truncated at that threshold
    (:func:`gan_utils.models.recompute_batchnorm_stats`), which tests whether statistics estimated on
    untruncated codes are what breaks strong truncation."""
    from tqdm.auto import tqdm

    extractor = extractor if extractor is not None else _default_extractor()
    classes = list(range(G.num_classes))
    f_real = _reference(real, n_per_class, seed + 1, extractor, classes).features
    rows = []
    for t in tqdm(list(thresholds), desc="truncation", unit="threshold", disable=not progress):
        G_t = recompute_batchnorm_stats(G, truncation=t, seed=seed + 2) if recompute_bn else G
        fake, fake_y = generate_per_class(G_t, n_per_class, seed, truncation=t)
        f_fake, p_fake = _features_and_probs(fake, extractor)
        pr: PrecisionRecall = precision_recall(f_real, f_fake, k=k)
        acc = _accuracy(p_fake, fake_y, max(len(classes), p_fake.shape[1]))
        rows.append({"truncation": math.inf if t is None else float(t), "precision": pr.precision,
                     "recall": pr.recall, "density": pr.density, "coverage": pr.coverage,
                     "accuracy": acc.accuracy, "confidence": acc.confidence})
    return rows
