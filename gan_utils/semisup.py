"""The semi-supervised GAN of Salimans et al. 2016, section 5 (taught in notebooks/14_improved_techniques.ipynb).

The discriminator is a K-class classifier. Generated images are a class of their own, K+1, whose logit is
fixed at 0, so that D(x) = Z(x) / (Z(x) + 1) with Z(x) = sum_k exp l_k(x) is "real" of the GAN game and
softmax(l) is the class of a real image. It learns from three batches per step:

    (1) Update D:  L = -E_{(x,y) labelled} log p(y | x, y < K+1)           (the 100 labels)
                       + w [ -E_{x unlabelled} log D(x) - E_z log(1 - D(G(z))) ]   (every training image)
    (2) Update G:  feature matching on D's last hidden layer: || E_x f(x) - E_z f(G(z)) ||^2

(:func:`gan_utils.losses.semi_supervised_d_loss`, :func:`gan_utils.losses.feature_matching_loss`). The
step is not "a D step and a G step on one batch" of :func:`gan_utils.train.train`, so it is a
:class:`gan_utils.loop.Task` trained by :func:`gan_utils.loop.run_loop`, which keeps the loop's promises
(progress bar, one writer, atomic checkpoints, bit-exact resume, NaN guard, Ctrl-C/SIGTERM/SIGHUP).

:class:`LabelledOnly` is the control: the same classifier, optimiser and number of steps, trained on the
labelled images alone. The models follow the authors' MNIST code (openai/improved-gan,
``train_mnist_feature_matching.py``): D an MLP 784-1000-500-250-250-250-10 with weight normalisation and
Gaussian noise on every layer's input (standard deviation 0.3 on the pixels in [0, 1], 0.5 after), G an
MLP 100-500-500-784 with BatchNorm; Adam 0.003, beta1 0.5; batches of 100; the classifier tested is an
average of D's weights over training. What differs here, and why, is listed in :class:`SemiSupervisedConfig`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import weight_norm

from .data import ImageDataset, InMemoryLoader
from .loop import Task
from .losses import feature_matching_loss, semi_supervised_d_loss
from .models import MLPGenerator, eval_mode
from .runtime import ConfigError

__all__ = ["SemiSupervisedConfig", "SSLClassifier", "GaussianNoise", "SemiSupervisedGAN", "LabelledOnly",
           "labelled_subset", "accuracy"]


@dataclass
class SemiSupervisedConfig:
    """The settings of a semi-supervised run (and of its labelled-only control)."""

    labels_per_class: int = 10         # 10 per class x 10 classes = the 100 labels of Salimans et al.'s Table 1
    label_seed: int = 0                # which training images are the labelled ones
    batch_size: int = 100              # labelled, unlabelled and generated batches alike (the authors' 100)
    lr: float = 3e-3                   # Adam for D and G (the authors' MNIST code)
    betas: tuple = (0.5, 0.999)        # beta1 = 0.5 (the authors' mom1)
    unlabelled_weight: float = 1.0     # w in L_supervised + w L_unsupervised (the authors' default)
    latent_dim: int = 100              # z ~ N(0, I) (the authors draw U[0, 1]^100)
    avg_decay: float = 0.999           # the tested classifier is an EMA of D's weights (the authors: 1 - 1e-4 over
                                       # 180 000 steps; 0.999 suits runs of a few thousand)
    hidden: tuple = (1000, 500, 250, 250, 250)   # D's hidden layers (the authors' MNIST D)
    g_hidden: int = 500                # G: two hidden layers of this width, BatchNorm + ReLU (the authors: softplus)
    seed: int = 0                      # initial weights, noise, batch order
    steps: int = 3000                  # D (and G) updates; the authors ran 300 epochs of 600 = 180 000
    log_every: int = 50                # may change on resume, as may the three below
    ckpt_every: int = 0
    sample_every: int = 500            # test accuracy every this many steps (and at the end), with test data

    def __post_init__(self):
        for name in ("labels_per_class", "batch_size", "latent_dim", "g_hidden", "steps", "log_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name}={v!r} must be a whole number >= 1")
        if not self.lr > 0 or self.unlabelled_weight < 0 or not 0 <= self.avg_decay < 1:
            raise ConfigError(f"lr={self.lr!r} must be > 0, unlabelled_weight={self.unlabelled_weight!r} >= 0 and "
                              f"avg_decay={self.avg_decay!r} in [0, 1)")
        self.betas, self.hidden = tuple(self.betas), tuple(int(h) for h in self.hidden)


class GaussianNoise(nn.Module):
    """x + sigma * N(0, I) in training mode, x itself in eval mode (the authors' GaussianNoiseLayer). The
    noise comes from torch's global generator, whose state the loop's checkpoints keep."""

    def __init__(self, sigma: float):
        super().__init__()
        self.sigma = float(sigma)

    def forward(self, x):
        return x + self.sigma * torch.randn_like(x) if self.training and self.sigma > 0 else x

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


class SSLClassifier(nn.Module):
    """The K-class discriminator: images ``(B, C, H, W)`` in [-1, 1] -> class logits ``(B, K)``.

    Pixels are mapped to [0, 1] (the authors' scale, on which their input noise of 0.3 is defined), then
    ``noise -> Linear (weight-normalised) -> ReLU`` per hidden layer, and a weight-normalised linear
    read-out. :meth:`features` is the last hidden layer (after its ReLU), the layer the authors' generator
    matches. The generated class K+1 has no output: its logit is 0 (section 5 of the paper).
    """

    def __init__(self, in_shape=(1, 28, 28), num_classes: int = 10, hidden=(1000, 500, 250, 250, 250),
                 input_noise: float = 0.3, hidden_noise: float = 0.5):
        super().__init__()
        self.in_shape, self.num_classes = tuple(in_shape), int(num_classes)
        self.config = {"kind": "SSLClassifier", "in_shape": list(self.in_shape), "num_classes": self.num_classes,
                       "hidden": list(hidden), "input_noise": input_noise, "hidden_noise": hidden_noise}
        layers, width = [], int(torch.tensor(self.in_shape).prod())
        for i, h in enumerate(hidden):
            layers += [GaussianNoise(input_noise if i == 0 else hidden_noise), weight_norm(nn.Linear(width, h)),
                       nn.ReLU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(GaussianNoise(hidden_noise), weight_norm(nn.Linear(width, self.num_classes)))
        self.feature_dim = width

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"SSLClassifier expects images (B, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}")
        return self.body((x.flatten(1) + 1) / 2)             # [-1, 1] -> [0, 1], then (B, hidden[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))                   # (B, K): l_1 .. l_K; l_{K+1} = 0


def labelled_subset(data: ImageDataset, per_class: int, seed: int = 0) -> ImageDataset:
    """``per_class`` images of every class of ``data``, drawn with a ``seed``-ed permutation (the labelled
    part of a semi-supervised run; the rest of ``data`` is used without its labels)."""
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    classes = sorted(int(c) for c in data.labels.unique())
    idx = []
    for c in classes:
        mine = perm[data.labels[perm] == c][:per_class]
        if len(mine) < per_class:
            raise ConfigError(f"class {c} has {len(mine)} images, fewer than labels_per_class={per_class}")
        idx.append(mine)
    idx = torch.cat(idx)
    return ImageDataset(data.images[idx], data.labels[idx], f"{data.name}[{per_class} per class, seed {seed}]",
                        getattr(data, "classes", ()))


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Share of ``images`` (uint8, or float in [-1, 1]) whose argmax class under ``model`` (eval mode: no
    noise) is ``labels``."""
    dev = next(model.parameters()).device
    right = 0
    with eval_mode(model):
        for i in range(0, len(images), batch_size):
            x = images[i:i + batch_size].to(dev)
            x = x.float() / 127.5 - 1 if x.dtype == torch.uint8 else x
            right += int((model(x).argmax(1).cpu() == labels[i:i + batch_size]).sum())
    return right / len(images)


class _ClassifierTask(Task):
    """What both runs share: the classifier D, its optimiser, the averaged classifier, the labelled loader,
    test accuracy at every snapshot."""

    def __init__(self, cfg: SemiSupervisedConfig, train_data: ImageDataset, test_data: Optional[ImageDataset] = None,
                 device="cpu"):
        from .train import EMA

        self.config, self.device = cfg, torch.device(device)
        self.test = test_data
        torch.manual_seed(cfg.seed)                          # the same initial D for both runs of a seed
        shape = tuple(train_data.images.shape[1:])
        k = int(train_data.labels.max()) + 1
        self.D = SSLClassifier(shape, k, cfg.hidden).to(self.device)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.avg = EMA(self.D, cfg.avg_decay)                # the classifier that is tested
        labelled = labelled_subset(train_data, cfg.labels_per_class, cfg.label_seed)
        self.labelled = InMemoryLoader(labelled, min(cfg.batch_size, len(labelled)), device=self.device,
                                       seed=cfg.seed, with_labels=True)
        self.curve = {"step": [], "accuracy": [], "accuracy_raw": []}

    def items_per_step(self):
        return self.config.batch_size

    def extra_state(self) -> dict:
        return {"avg_updates": self.avg.updates, "curve": {k: list(v) for k, v in self.curve.items()}}

    def load_extra_state(self, state: dict) -> None:
        self.avg.updates = int(state.get("avg_updates", 0))
        self.curve = {k: list(v) for k, v in (state.get("curve") or self.curve).items()}

    def _supervised(self) -> tuple:
        """The next labelled batch: images (B, C, H, W) in [-1, 1] and their classes (B,)."""
        return self.labelled.next_batch()

    def snapshot(self, step: int, out_dir: Optional[Path]) -> None:
        if self.test is None or (self.curve["step"] and self.curve["step"][-1] == step):
            return
        self.curve["step"].append(step)
        self.curve["accuracy"].append(accuracy(self.avg.model, self.test.images, self.test.labels))
        self.curve["accuracy_raw"].append(accuracy(self.D, self.test.images, self.test.labels))


class SemiSupervisedGAN(_ClassifierTask):
    """Salimans et al. 2016's semi-supervised GAN (section 5), with the feature-matching generator they used
    for it, as a :class:`~gan_utils.loop.Task`: ``run_loop(SemiSupervisedGAN(cfg, train, test), cfg.steps)``."""

    kind = "semi-supervised-gan"

    def __init__(self, cfg: SemiSupervisedConfig, train_data: ImageDataset, test_data: Optional[ImageDataset] = None,
                 device="cpu"):
        super().__init__(cfg, train_data, test_data, device)
        torch.manual_seed(cfg.seed + 10_000)
        shape = tuple(train_data.images.shape[1:])
        self.G = MLPGenerator(cfg.latent_dim, shape, cfg.g_hidden, 2, tanh_output=True, norm="batch").to(self.device)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.unlabelled = InMemoryLoader(train_data, cfg.batch_size, device=self.device, seed=cfg.seed + 1)
        self.unlabelled_g = InMemoryLoader(train_data, cfg.batch_size, device=self.device, seed=cfg.seed + 2)
        torch.manual_seed(cfg.seed + 20_000)                 # the run's own stream: noise layers and z

    def modules(self) -> dict:
        return {"D": self.D, "G": self.G, "D_avg": self.avg.model}

    def optimizers(self) -> dict:
        return {"D": self.opt_d, "G": self.opt_g}

    def loaders(self) -> dict:
        return {"labelled": self.labelled, "unlabelled": self.unlabelled, "unlabelled_g": self.unlabelled_g}

    def step(self, step: int) -> dict:
        cfg, D, G = self.config, self.D, self.G
        x_lab, y = self._supervised()                                  # (B, 1, 28, 28), (B,): the labelled images
        x_unl = self.unlabelled.next_batch()                            # (B, 1, 28, 28): any training image
        fake = G(torch.randn(cfg.batch_size, cfg.latent_dim, device=self.device))
        # (1) Update D: K classes on the labelled batch; real (classes 1..K) vs generated (K+1) on the others
        lab_logits = D(x_lab)
        loss_d, sup, unsup = semi_supervised_d_loss(lab_logits, y, D(x_unl), D(fake.detach()), cfg.unlabelled_weight)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        self.avg.update(D)                                              # the averaged classifier that is tested
        # (2) Update G: match the mean of D's last hidden layer on another unlabelled batch
        x_unl_g = self.unlabelled_g.next_batch()
        D.requires_grad_(False)
        try:
            with torch.no_grad():
                real_f = D.features(x_unl_g)                            # f(x): (B, 250)
            fake_g = G(torch.randn(cfg.batch_size, cfg.latent_dim, device=self.device))
            loss_g = feature_matching_loss(real_f, D.features(fake_g))  # ||E f(x) - E f(G(z))||^2
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        finally:
            D.requires_grad_(True)
        train_error = (lab_logits.detach().argmax(1) != y).float().mean()
        return {"loss_D": loss_d.detach(), "loss_supervised": sup.detach(), "loss_unsupervised": unsup.detach(),
                "loss_G": loss_g.detach(), "train_error": train_error}


class LabelledOnly(_ClassifierTask):
    """The control: the same classifier, optimiser, averaging and number of steps, trained by cross-entropy on
    the labelled images alone (no generator, no unlabelled images)."""

    kind = "labelled-only-classifier"

    def __init__(self, cfg: SemiSupervisedConfig, train_data: ImageDataset, test_data: Optional[ImageDataset] = None,
                 device="cpu"):
        super().__init__(cfg, train_data, test_data, device)
        torch.manual_seed(cfg.seed + 20_000)

    def modules(self) -> dict:
        return {"D": self.D, "D_avg": self.avg.model}

    def optimizers(self) -> dict:
        return {"D": self.opt_d}

    def loaders(self) -> dict:
        return {"labelled": self.labelled}

    def step(self, step: int) -> dict:
        x_lab, y = self._supervised()
        logits = self.D(x_lab)
        loss = F.cross_entropy(logits.float(), y)                       # -E log p(y | x)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        self.avg.update(self.D)
        return {"loss_supervised": loss.detach(), "train_error": (logits.detach().argmax(1) != y).float().mean()}
