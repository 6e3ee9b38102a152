"""Image-to-image translation on Fashion-MNIST, offline: the lesson helpers of
notebooks/11_image_to_image.ipynb (the translators themselves are :mod:`gan_utils.translation`).

* **The paired task** (:func:`edge_task`): A = an edge map of each garment from a documented,
  deterministic detector (:func:`sobel_edges`), B = the garment. pix2pix trains on the 60 000 training
  pairs; CycleGAN on the *unpaired split*: A images from one half of the training set, B images from
  the other half (permutation seed 0), so no training pair exists; both are evaluated on the 10 000
  test pairs ("unpaired training, paired evaluation", as CycleGAN's maps and Cityscapes experiments).
* **The class-to-class task** (:func:`class_task`): sneakers <-> sandals (classes 7 and 5), with no
  ground truth at all, judged by the shipped classifier.
* **Measurements** (:func:`evaluate_pairs`, :func:`evaluate_class_flip`, :func:`hidden_information`):
  per-pixel L1 to the true garment, FD-classifier against the real garments, class agreement (the
  shipped classifier gives the output the source garment's class: the analogue of the "FCN score");
  class-flip rate and cycle error; how much a CycleGAN reconstruction depends on faint signals in its
  intermediate image (Chu et al. 2017).
* **The recorded ablations** (:data:`PIX2PIX_ARMS`, :data:`CYCLEGAN_ARMS`, :func:`run_experiments`),
  written by scripts/record_translation.py to docs/translation_record.json and loaded by the notebook;
  :func:`record_sentences` makes the prose that quotes the record (a test keeps the two equal).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..config import TranslationConfig
from ..data import ImageDataset, TwoDomainData, load_dataset
from ..translation import build_translation, translate_images
from .recipes import encode_u8
from .records import fmt_stat, load_json_record, sentence_markers, stats, welch_verdict

# ============================================================================ the data
#: The edge detector's threshold on the normalised Sobel magnitude (see :func:`sobel_edges`): at 0.2 the
#: maps keep each garment's outline and its strongest inner edges (collars, soles, straps), not its texture
EDGE_THRESHOLD = 0.2
#: Sobel's horizontal-derivative kernel; its transpose is the vertical one
SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
#: the class-to-class task: Fashion-MNIST's Sneaker (7) <-> Sandal (5)
SNEAKER, SANDAL = 7, 5


def sobel_magnitude(images_u8: torch.Tensor) -> torch.Tensor:
    """The Sobel gradient magnitude of grey images ``(N, 1, H, W)`` (uint8), normalised to [0, 1]:
    with intensities x in [0, 1] and zero padding (the background is black),

        g_x = S_x * x,   g_y = S_x^T * x,   m = sqrt(g_x^2 + g_y^2) / (4 sqrt 2)

    (4 sqrt 2 is the largest magnitude the kernels can give on [0, 1] images). float32 on the CPU:
    the same bits on every run."""
    if images_u8.dtype != torch.uint8 or images_u8.dim() != 4 or images_u8.shape[1] != 1:
        raise ValueError(f"sobel_magnitude takes grey uint8 images (N, 1, H, W), got {images_u8.dtype} "
                         f"{tuple(images_u8.shape)}")
    x = images_u8.float() / 255.0
    k = torch.stack([SOBEL_X, SOBEL_X.t()])[:, None]                    # (2, 1, 3, 3): d/dx, d/dy
    g = torch.cat([F.conv2d(c, k, padding=1) for c in x.split(4096)])   # (N, 2, H, W)
    return g.pow(2).sum(1, keepdim=True).sqrt() / (4 * 2 ** 0.5)        # (N, 1, H, W) in [0, 1]


def sobel_edges(images_u8: torch.Tensor, threshold: float = EDGE_THRESHOLD) -> torch.Tensor:
    """The A domain of the paired task: white edges on black, uint8 ``(N, 1, H, W)`` in {0, 255},
    where the normalised Sobel magnitude (:func:`sobel_magnitude`) exceeds ``threshold``. Deterministic
    (no OpenCV, no randomness): the same edges on every machine. Edges are about 2 px wide (a 3x3
    kernel responds on both sides of a step); the fill, shading and texture of the garment are gone,
    which is what makes the task ambiguous: a translator must invent them."""
    return (sobel_magnitude(images_u8) > threshold).to(torch.uint8) * 255


@dataclass
class EdgeTask:
    """The paired edges -> garments task: ``paired`` (all training pairs, pix2pix), ``unpaired`` (A and
    B from disjoint halves of the training set, CycleGAN), ``test`` (the test set's true pairs,
    ``test.A.labels`` the garments' classes)."""

    paired: TwoDomainData
    unpaired: TwoDomainData
    test: TwoDomainData
    halves: tuple = ()        # (indices of the A half, indices of the B half) into the training set


def edge_task(image_size: int = 32, n_train: Optional[int] = None, n_test: Optional[int] = None) -> EdgeTask:
    """Fashion-MNIST at ``image_size`` with its Sobel edge maps (section 2's data). ``n_train`` /
    ``n_test`` keep the first n of each split (smoke runs). The unpaired split: a permutation of the
    training images (seed 0), edges from its first half, garments from its second half."""
    tr = load_dataset("fashion-mnist", train=True, image_size=image_size)
    te = load_dataset("fashion-mnist", train=False, image_size=image_size)
    tr_x, tr_y = tr.images[:n_train], tr.labels[:n_train]
    te_x, te_y = te.images[:n_test], te.labels[:n_test]
    tr_e, te_e = sobel_edges(tr_x), sobel_edges(te_x)
    paired = TwoDomainData(ImageDataset(tr_e, tr_y, "fashion-mnist edges"), ImageDataset(tr_x, tr_y, "fashion-mnist"),
                           True, "fashion-mnist edges -> garments (train pairs)")
    perm = torch.randperm(len(tr_x), generator=torch.Generator().manual_seed(0))
    half_a, half_b = perm[:len(perm) // 2].sort().values, perm[len(perm) // 2:].sort().values
    unpaired = TwoDomainData(ImageDataset(tr_e[half_a], tr_y[half_a], "fashion-mnist edges (half 1)"),
                             ImageDataset(tr_x[half_b], tr_y[half_b], "fashion-mnist (half 2)"),
                             False, "fashion-mnist edges (half 1) / garments (half 2)")
    test = TwoDomainData(ImageDataset(te_e, te_y, "fashion-mnist test edges"), ImageDataset(te_x, te_y, "fashion-mnist test"),
                         True, "fashion-mnist edges -> garments (test pairs)")
    return EdgeTask(paired, unpaired, test, (half_a, half_b))


@dataclass
class ClassTask:
    """Two classes of Fashion-MNIST as two domains, with no pairs: ``train`` (A: class ``a``, B: class
    ``b``, training images) and ``test`` (the same classes' test images)."""

    train: TwoDomainData
    test: TwoDomainData
    a: int
    b: int


def class_task(a: int = SNEAKER, b: int = SANDAL, image_size: int = 32, n: Optional[int] = None) -> ClassTask:
    """Class ``a`` -> class ``b`` of Fashion-MNIST (section 5; default sneaker -> sandal); ``n`` keeps
    the first n images of each class and split (smoke runs)."""
    out = []
    for train in (True, False):
        ds = load_dataset("fashion-mnist", train=train, image_size=image_size)
        sides = []
        for c in (a, b):
            idx = (ds.labels == c).nonzero().view(-1)[:n]
            sides.append(ImageDataset(ds.images[idx], ds.labels[idx], f"fashion-mnist {ds.classes[c]}"))
        out.append(TwoDomainData(*sides, False, f"{ds.classes[a]} <-> {ds.classes[b]} ({'train' if train else 'test'})"))
    return ClassTask(out[0], out[1], a, b)


# ============================================================================ measurements
def _classifier():
    from ..metrics.classifier import pretrained_classifier

    return pretrained_classifier("fashion-mnist")


@torch.no_grad()
def classify(images: torch.Tensor, classifier=None) -> torch.Tensor:
    """The shipped Fashion-MNIST classifier's labels for ``images`` (uint8 or float in [-1, 1])."""
    from ..models import eval_mode

    clf = classifier or _classifier()
    x = images.float().div(127.5).sub(1) if images.dtype == torch.uint8 else images.float()
    with eval_mode(clf):
        return torch.cat([clf(c).argmax(1) for c in x.split(1000)])


def fd_classifier(images: torch.Tensor, reference: torch.Tensor) -> float:
    """FD-classifier (notebook 06) between two sets of grey images (uint8 or [-1, 1] floats): the
    Fréchet distance of the shipped classifier's 128-d features. Biased upwards at small n: compare
    only numbers computed at the same n."""
    from ..metrics.features import ClassifierFeatures
    from ..metrics.fid import frechet_distance, statistics_of

    ext = ClassifierFeatures(device="cpu")
    mu1, s1, _ = statistics_of(images, ext)
    mu2, s2, _ = statistics_of(reference, ext)
    return frechet_distance(mu1, s1, mu2, s2)


def evaluate_pairs(G, test: TwoDomainData, n: int = 2000, classifier=None) -> dict:
    """Score an A -> B translator on the first ``n`` true test pairs: ``l1`` (mean |G(a) - b| per pixel,
    images in [-1, 1]), ``fd`` (FD-classifier of the n outputs against the n real garments),
    ``agreement`` (fraction of outputs the classifier puts in the source garment's class)."""
    a, b, y = test.A.images[:n], test.B.images[:n], test.B.labels[:n]
    out = translate_images(G, a)                                           # (n, 1, S, S) in [-1, 1]
    real = b.float().div(127.5).sub(1)
    return {"l1": float((out - real).abs().mean()),
            "fd": fd_classifier(out, b),
            "agreement": float((classify(out, classifier) == y).float().mean()),
            "n": int(len(a))}


def reference_scores(test: TwoDomainData, n: int = 2000, classifier=None) -> dict:
    """What the measures give without a translator: the classifier's accuracy on the true garments (the
    ceiling of class agreement) and the L1 of the edge map itself to its garment (a floor to beat)."""
    b, y = test.B.images[:n], test.B.labels[:n]
    real = b.float().div(127.5).sub(1)
    return {"classifier_accuracy": float((classify(b, classifier) == y).float().mean()),
            "edges_l1": float((test.A.images[:n].float().div(127.5).sub(1) - real).abs().mean()),
            "n": int(len(b))}


def evaluate_class_flip(G_ab, G_ba, images_a: torch.Tensor, b: int, reference_b: torch.Tensor, classifier=None) -> dict:
    """Score an A -> B translator with no ground truth: ``flip`` (fraction of G_AB(a) the classifier
    puts in class ``b``), ``cycle_l1`` (mean |G_BA(G_AB(a)) - a|), ``fd`` (FD-classifier of G_AB(a)
    against the real B images ``reference_b``)."""
    fake = translate_images(G_ab, images_a)
    back = translate_images(G_ba, fake)
    real_a = images_a.float().div(127.5).sub(1)
    return {"flip": float((classify(fake, classifier) == b).float().mean()),
            "cycle_l1": float((back - real_a).abs().mean()),
            "fd": fd_classifier(fake, reference_b),
            "n": int(len(images_a))}


#: noise levels (standard deviations, images in [-1, 1]) added to the intermediate image in
#: :func:`hidden_information`: 0.02 is 2.5 grey levels of 255, invisible in a figure
NOISE_LEVELS = (0.02, 0.05, 0.1)


@torch.no_grad()
def hidden_information(G_ab, G_ba, garments: torch.Tensor, edges: torch.Tensor, noise=NOISE_LEVELS, seed: int = 0) -> dict:
    """What CycleGAN's garment -> edges -> garment cycle carries in its intermediate image (section 4;
    Chu et al. 2017). With b the garments (uint8), e = G_BA(b) the generated edge maps and
    rec(x) = |G_AB(x) - b| (mean per pixel, [-1, 1] images):

    * ``cycle``: rec(e), the cycle error the training minimised;
    * ``true_edges``: rec(sobel_edges(b)): G_AB fed the *real* edge map of the same garment;
    * ``binarised``: rec(sign(e)): e forced to a clean black-and-white edge map (each pixel to -1 or 1);
    * ``noise``: {sigma: rec(e + N(0, sigma^2))} (noise from a generator seeded with ``seed``);
    * ``off_binary``: mean |e - sign(e)|, how far the generated edge maps are from black and white;
    * ``noise_on_true_edges``: {sigma: rec(true edges + N(0, sigma^2))}: the same noise on a real edge map.

    If the intermediate held only an edge map, ``cycle`` could not be much below ``true_edges`` and
    small noise could not hurt more than it does on real edge maps."""
    b = garments.float().div(127.5).sub(1)
    true_e = edges.float().div(127.5).sub(1)
    e = translate_images(G_ba, garments)                                  # generated edge maps

    def rec(x):
        return float((translate_images(G_ab, x) - b).abs().mean())

    g = torch.Generator().manual_seed(seed)
    noises = {s: torch.randn(e.shape, generator=g) * s for s in noise}
    return {"cycle": rec(e), "true_edges": rec(true_e), "binarised": rec(torch.where(e >= 0, 1.0, -1.0)),
            "noise": {str(s): rec(e + z) for s, z in noises.items()},
            "noise_on_true_edges": {str(s): rec(true_e + z) for s, z in noises.items()},
            "off_binary": float((e - torch.where(e >= 0, 1.0, -1.0)).abs().mean()), "n": int(len(garments))}


# ============================================================================ training one arm
#: pix2pix's loss ablation (the analogue of the one in Isola et al. 2017): the same U-Net and PatchGAN,
#: only G's objective changes. "L1" trains no D at all.
PIX2PIX_ARMS = {"L1": {"lambda_gan": 0.0}, "cGAN": {"lambda_l1": 0.0}, "L1+cGAN": {}}
#: CycleGAN's ablation (the variants of Zhu et al. 2017's): "GAN alone" has no cycle (so no identity term
#: either, it scales with lambda_cycle), "cycle alone" no D, "GAN+forward cycle" only a -> b -> a; "full" all
#: terms with the image pool.
CYCLEGAN_ARMS = {"GAN alone": {"lambda_cycle": 0.0}, "cycle alone": {"lambda_gan": 0.0},
                 "GAN+forward cycle": {"cycles": "forward"}, "full": {}}
#: sizes of the record (scripts/record_translation.py) and of a smoke run (CI: seconds)
FULL_SIZES = dict(seeds=(0, 1, 2), steps=1000, width=16, batch_size=16, n_layers=1, n_eval=2000, class_steps=1000,
                  n_train=None, n_test=None)
SMOKE_SIZES = dict(seeds=(0,), steps=3, width=4, batch_size=8, n_layers=1, n_eval=64, class_steps=3,
                   n_train=256, n_test=64)


def arm_config(model: str, overrides: dict, seed: int, sizes: dict) -> TranslationConfig:
    """The TranslationConfig of one arm: the model's defaults (the authors' choices), the record's sizes,
    the arm's ``overrides``, grey images, on the CPU."""
    return TranslationConfig(model=model, channels=1, width=sizes["width"], batch_size=sizes["batch_size"],
                             n_layers=sizes["n_layers"], steps=sizes["steps"], seed=seed, device="cpu", **overrides)


def train_arm(model: str, overrides: dict, data: TwoDomainData, seed: int, sizes: dict, steps: Optional[int] = None,
              progress: bool = True, desc: str = ""):
    """Train one arm for one seed with :func:`gan_utils.loop.run_loop`; returns ``(task, LoopResult)``."""
    from ..loop import run_loop

    cfg = arm_config(model, overrides, seed, {**sizes, "steps": steps or sizes["steps"]})
    task = build_translation(cfg, data, device="cpu")
    result = run_loop(task, cfg.steps, log_every=50, progress=progress, desc=desc or f"{model} seed {seed}")
    return task, result


def _samples(G, x: torch.Tensor) -> dict:
    out = translate_images(G, x)
    return encode_u8(((out.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[:, 0].numpy())


def _history(result) -> dict:
    return {k: v[::10] for k, v in result.history.items()}


def run_ablation(model: str, task: EdgeTask, sizes: dict, progress: bool = True, log: Callable = print) -> dict:
    """Section 2's (``model="pix2pix"``: :data:`PIX2PIX_ARMS` on the training pairs) or section 3's record
    (``"cyclegan"``: :data:`CYCLEGAN_ARMS` on the unpaired split): every arm for every seed, scored on the
    first n_eval test pairs; the first seed's outputs for the first 10 test edge maps; for CycleGAN's full
    objective also :func:`hidden_information` (section 4)."""
    arms, data = (PIX2PIX_ARMS, task.paired) if model == "pix2pix" else (CYCLEGAN_ARMS, task.unpaired)
    out = {"arms": arms, "seeds": list(sizes["seeds"]), "steps": sizes["steps"], "runs": {k: [] for k in arms}}
    n = sizes["n_eval"]
    for seed in sizes["seeds"]:
        for name, over in arms.items():
            t0 = time.perf_counter()
            t, r = train_arm(model, over, data, seed, sizes, progress=progress, desc=f"{model} {name}, seed {seed}")
            secs = time.perf_counter() - t0
            G = t.generators()["AtoB"]
            rec = {"seed": seed, "metrics": evaluate_pairs(G, task.test, n), "seconds": secs,
                   "history_every_10": _history(r)}
            if model == "cyclegan" and name == "full":
                rec["hidden"] = hidden_information(t.G_AB, t.G_BA, task.test.B.images[:n], task.test.A.images[:n],
                                                   seed=seed)
            if seed == sizes["seeds"][0]:
                rec["samples_u8"] = _samples(G, task.test.A.images[:10])
            out["runs"][name].append(rec)
            log(f"{time.strftime('%H:%M:%S')} {model} {name:>18} seed {seed}: {rec['metrics']} ({secs:.0f} s)")
    out["summary"] = summarise(out)
    return out


def run_class_flip(task: ClassTask, sizes: dict, progress: bool = True, log: Callable = print) -> dict:
    """Section 5's record: the full CycleGAN on sneakers <-> sandals for every seed, scored on the test
    images of both classes in both directions."""
    out = {"a": task.a, "b": task.b, "seeds": list(sizes["seeds"]), "steps": sizes["class_steps"], "runs": {"full": []}}
    for seed in sizes["seeds"]:
        t0 = time.perf_counter()
        t, r = train_arm("cyclegan", {}, task.train, seed, sizes, steps=sizes["class_steps"], progress=progress,
                         desc=f"CycleGAN classes, seed {seed}")
        secs = time.perf_counter() - t0
        ta, tb = task.test.A.images, task.test.B.images
        rec = {"seed": seed, "seconds": secs, "history_every_10": _history(r),
               "AtoB": evaluate_class_flip(t.G_AB, t.G_BA, ta, task.b, tb),
               "BtoA": evaluate_class_flip(t.G_BA, t.G_AB, tb, task.a, ta)}
        if seed == sizes["seeds"][0]:
            rec["samples_u8"] = {"AtoB": _samples(t.G_AB, ta[:10]), "BtoA": _samples(t.G_BA, tb[:10])}
        out["runs"]["full"].append(rec)
        log(f"{time.strftime('%H:%M:%S')} classes seed {seed}: A->B {rec['AtoB']}, B->A {rec['BtoA']} ({secs:.0f} s)")
    out["summary"] = summarise(out)
    return out


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and k != "n":
            out[f"{prefix}{k}"] = v
    return out


#: what :func:`summarise` averages over seeds, per run record
SUMMARY_KEYS = ("metrics", "hidden", "AtoB", "BtoA", "seconds")


def summarise(part: dict) -> dict:
    """Mean +- std over seeds of every number of every arm's runs (the metrics, the hidden-information
    measurements, the class-flip scores, the wall time)."""
    summ = {}
    for name, runs in part["runs"].items():
        flat = [_flatten({k: r[k] for k in SUMMARY_KEYS if k in r}) for r in runs]
        summ[name] = {k: stats([f[k] for f in flat]) for k in flat[0]} if flat else {}
    return summ


def run_experiments(sizes: Optional[dict] = None, only: Optional[str] = None, record: Optional[dict] = None,
                    progress: bool = True, log: Callable = print) -> dict:
    """The three recorded parts ("pix2pix", "cyclegan", "classes"; all, or ``only`` one, updating
    ``record``) at ``sizes`` (default :data:`FULL_SIZES`), plus the reference scores of the test pairs.
    What scripts/record_translation.py runs."""
    z = {**FULL_SIZES, **(sizes or {})}
    record = dict(record or {})
    record["sizes"] = {k: list(v) if isinstance(v, tuple) else v for k, v in z.items()}
    edges = edge_task(n_train=z["n_train"], n_test=z["n_test"]) if only in (None, "pix2pix", "cyclegan") else None
    if edges is not None:
        record["reference"] = reference_scores(edges.test, z["n_eval"])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*biased upwards.*")
        if only in (None, "pix2pix"):
            record["pix2pix"] = run_ablation("pix2pix", edges, z, progress, log)
        if only in (None, "cyclegan"):
            record["cyclegan"] = run_ablation("cyclegan", edges, z, progress, log)
        if only in (None, "classes"):
            record["classes"] = run_class_flip(class_task(n=z["n_train"]), z, progress, log)
    return record


# ============================================================================ the prose quoting the record
RECORD_NAME = "translation_record.json"
SENTENCE_MARKERS = sentence_markers("pix2pix", "cyclegan", "hidden", "classes")
#: the metrics of the paired evaluation, how they read, and how many digits the prose gives them
METRICS = {"l1": ("per-pixel L1 to the true garment", "lower", 3), "fd": ("FD-classifier", "lower", 1),
           "agreement": ("class agreement", "higher", 3)}


def load_record(path=None, repo: Optional[str] = None, ref: str = "main") -> dict:
    """docs/translation_record.json (or ``path``; or downloaded from GitHub ``repo`` on Colab)."""
    return load_json_record(RECORD_NAME, path, repo, ref, how_to_make=(
        "Run python scripts/record_translation.py from a clone of the course (hours on a CPU), or set RERUN_RECORD = "
        "True in the notebook's parameters cell."))


def _row(name: str, s: dict) -> str:
    return ", ".join(f"{METRICS[m][0]} {fmt_stat(s['metrics.' + m], METRICS[m][2])}" for m in METRICS)


def _compare(a: str, b: str, sa: dict, sb: dict, metric: str) -> str:
    """One sentence comparing two arms on ``metric`` by Welch's t-test of their seeds' values
    (:func:`gan_utils.lessons.records.welch_verdict`, as notebooks 10 and 13 read theirs)."""
    what, better, digits = METRICS[metric]
    x, y = sa["metrics." + metric], sb["metrics." + metric]
    d = x["mean"] - y["mean"]
    side = a if (d < 0) == (better == "lower") else b
    return f"{what}: {side} is better by {abs(d):.{digits}f}, {welch_verdict(x, y)}"


def record_sentences(record: dict, part: str) -> str:
    """The markdown notebook 11 shows between ``SENTENCE_MARKERS[part]``: every mean ± std of ``part``
    ("pix2pix", "cyclegan", "hidden" or "classes") it quotes, generated from the record
    (``python scripts/record_translation.py --write-notebook``) and kept equal to it by
    tests/test_translation_record.py."""
    out = []
    if part == "pix2pix":
        r = record["pix2pix"]
        S = r["summary"]
        for name in r["runs"]:
            out.append(f"* **{name}**: {_row(name, S[name])}.")
        out.append("")
        for m in METRICS:
            out.append(f"* L1+cGAN vs L1, {_compare('L1+cGAN', 'L1', S['L1+cGAN'], S['L1'], m)}.")
    elif part == "cyclegan":
        r = record["cyclegan"]
        S = r["summary"]
        for name in r["runs"]:
            out.append(f"* **{name}**: {_row(name, S[name])}.")
        p = record["pix2pix"]["summary"]["L1+cGAN"]
        out.append(f"* **pix2pix (L1+cGAN, trained on pairs)**: {_row('pix2pix', p)}.")
        out.append("")
        for m in METRICS:
            out.append(f"* full vs GAN alone, {_compare('full', 'GAN alone', S['full'], S['GAN alone'], m)}.")
        for m in METRICS:
            out.append(f"* full vs pix2pix, {_compare('full', 'pix2pix', S['full'], p, m)}.")
        ref = record["reference"]
        out.append("")
        out.append(f"For scale: the input edge map itself is at per-pixel L1 {ref['edges_l1']:.3f} from its garment, and the "
                   f"classifier is right on {ref['classifier_accuracy']:.3f} of the true garments (the ceiling of class "
                   "agreement).")
    elif part == "hidden":
        s = record["cyclegan"]["summary"]["full"]
        noise = sorted({k.split(".", 2)[2] for k in s if k.startswith("hidden.noise.")}, key=float)
        out.append(f"* cycle error garment -> edges -> garment: {fmt_stat(s['hidden.cycle'], 3)};")
        out.append(f"* the same G_AB fed the *true* edge maps of those garments: {fmt_stat(s['hidden.true_edges'], 3)};")
        out.append(f"* the generated edge maps forced to black and white first: {fmt_stat(s['hidden.binarised'], 3)} "
                   f"(they are {fmt_stat(s['hidden.off_binary'], 3)} away from black and white, per pixel);")
        for k in noise:
            out.append(f"* Gaussian noise of standard deviation {k} added to the generated edge maps: "
                       f"{fmt_stat(s['hidden.noise.' + k], 3)} (the same noise on the true edge maps: "
                       f"{fmt_stat(s['hidden.noise_on_true_edges.' + k], 3)}).")
        cyc, true, binar = (s[f"hidden.{k}"]["mean"] for k in ("cycle", "true_edges", "binarised"))
        big = s[f"hidden.noise.{noise[-1]}"]["mean"]
        out.append("")
        out.append(f"So the generated edge maps let G_AB rebuild the garments with {true / cyc:.1f} times less error than "
                   f"the true edge maps do; forcing them to black and white takes back {(binar - cyc) / (true - cyc):.0%} of "
                   f"that advantage, Gaussian noise of standard deviation {noise[-1]} takes back {(big - cyc) / (true - cyc):.0%} "
                   "(means of the seeds).")
    elif part == "classes":
        s = record["classes"]["summary"]["full"]
        out.append(f"* sneaker -> sandal: classified as a sandal {fmt_stat(s['AtoB.flip'], 3)}, cycle error "
                   f"{fmt_stat(s['AtoB.cycle_l1'], 3)}, FD-classifier to real sandals {fmt_stat(s['AtoB.fd'], 1)};")
        out.append(f"* sandal -> sneaker: classified as a sneaker {fmt_stat(s['BtoA.flip'], 3)}, cycle error "
                   f"{fmt_stat(s['BtoA.cycle_l1'], 3)}, FD-classifier to real sneakers {fmt_stat(s['BtoA.fd'], 1)}.")
        flips = [s[f"{d}.flip"]["mean"] for d in ("AtoB", "BtoA")]
        share = ("fewer than half" if max(flips) < 0.5 else "more than half" if min(flips) > 0.5
                 else "in one direction more and in the other fewer than half")
        out.append("")
        out.append(f"So after {record['classes']['steps']} steps, {share} of the outputs are classified as the target "
                   "class (means of the seeds, both directions).")
    else:
        raise ValueError(f"part={part!r}; use one of {list(SENTENCE_MARKERS)}")
    return "\n".join(out)
