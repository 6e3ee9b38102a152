"""Generators and discriminators.

- ``MLPGenerator`` / ``MLPDiscriminator``: toys (notebook 02) and the first image GAN (03_mlp_gan).
- ``DCGANGenerator`` / ``DCGANDiscriminator``: notebook 04_dcgan (Radford, Metz, Chintala 2016),
  and the critic of 07_wgan through ``norm=`` ("batch", "layer", "none", "spectral").
- Class-conditional versions of both, ``num_classes=K`` (notebooks/09_conditional.ipynb): the
  generator with conditional BatchNorm (:class:`ConditionalBatchNorm2d`), the discriminator with a
  projection (Miyato & Koyama 2018), the label concatenated to the input, or an AC-GAN classifier
  head (Odena, Olah, Shlens 2017): ``conditioning=``. Labels are checked on the way in
  (:func:`check_labels`); ``num_classes=None`` (the default) is exactly the unconditional model of
  notebook 04, with the same layers, state_dict keys and config.
- :func:`truncated_normal`: BigGAN's truncation trick (Brock, Donahue, Simonyan 2019), notebook 09.
- Salimans et al. 2016's layers (notebooks/14_improved_techniques.ipynb): :class:`MinibatchDiscrimination`
  (a D that sees the whole batch; ``minibatch="discrimination"`` in both discriminators), its
  parameter-free successor :class:`MinibatchStdDev` (ProGAN; ``minibatch="stddev"``) and
  :class:`VirtualBatchNorm` (``norm="virtual"`` in both generators: every sample normalised with the
  statistics of a fixed reference batch, stored in the generator, and of itself).
- :func:`lerp`, :func:`slerp`: paths between latent codes (notebook 04; path length in notebook 12).
- ``StyleGenerator`` / ``StyleDiscriminator`` and their pieces (:class:`EqualisedLinear`, :func:`modulated_conv2d`,
  :class:`StyleLayer`, :class:`MappingNetwork`, :class:`SynthesisNetwork`, :func:`truncate`): StyleGAN and StyleGAN2
  built small, notebooks/12_stylegan.ipynb; :class:`MinibatchStdDev` (ProGAN) in their discriminator.
- ``UNetGenerator`` / ``PatchDiscriminator`` and :func:`receptive_field`: the translators of
  notebooks/11_image_to_image.ipynb (pix2pix, Isola et al. 2017; CycleGAN, Zhu et al. 2017): an
  encoder-decoder with skip connections that maps an image to an image, and a discriminator that
  scores every patch of its input (a ``(B, 1, h, w)`` map of logits, not ``(B,)``).

Every discriminator returns raw **logits of shape (B,)** (no Sigmoid: the losses use
BCE-with-logits); the AC-GAN discriminator returns ``(B, 2)``: the logit and log p(y | x).
Every model keeps its constructor arguments in ``.config`` (a plain dict), so a checkpoint can
rebuild it with :func:`build_model`.
"""
from __future__ import annotations

import copy
import math

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from .runtime import ConfigError

IMAGE_SIZES = (28, 32, 64)
NORMS = ("batch", "layer", "none", "spectral")
#: how a class-conditional discriminator sees the label (DCGANDiscriminator(num_classes=K, conditioning=...))
CONDITIONINGS = ("projection", "concat", "acgan")


# ----------------------------------------------------------------------------- class labels
def check_labels(y, num_classes: int, batch: int, who: str = "the model", check_range: bool = True) -> torch.Tensor:
    """Class labels ``y`` as a ``(batch,)`` long tensor in ``0 .. num_classes - 1``, or one clear error.

    Refused: a missing label, floats or booleans (a one-hot or a probability where a class index is
    expected), any shape other than ``(batch,)`` (a ``(B, 1)`` column would broadcast), an integer type
    too narrow for ``num_classes`` (uint8 holds 0..255: class 300 would have wrapped around before it
    got here) and values outside ``0 .. num_classes - 1`` (labels counted from 1 are off by one: the
    last class would index past the embedding table). ``check_range=False`` skips only the last check,
    which reads the values back to the host (the training loop on a GPU, whose data was checked once).
    """
    if y is None:
        raise ValueError(f"{who} is class-conditional (num_classes={num_classes}) and needs class labels y: "
                         f"a (B,) tensor of integers 0..{num_classes - 1}")
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"{who}: class labels must be a torch tensor of integers, got {type(y).__name__}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise ValueError(f"{who}: class labels must be integer class indices 0..{num_classes - 1} (torch.long), got "
                         f"dtype {y.dtype}: a one-hot vector or a probability? pass y.argmax(1), or .long() "
                         "if the values are whole numbers")
    if y.dim() != 1 or y.shape[0] != batch:
        raise ValueError(f"{who}: class labels must have shape ({batch},), one per sample, got {tuple(y.shape)}"
                         + (" (a column: use y.view(-1))" if y.dim() == 2 and y.shape[1] == 1 else ""))
    if torch.iinfo(y.dtype).max < num_classes - 1:
        raise ValueError(f"{who} has {num_classes} classes but the labels are {y.dtype}, whose largest value is "
                         f"{torch.iinfo(y.dtype).max}: larger classes have overflowed (wrapped around) already. "
                         "Keep labels as torch.long (int64) from the start.")
    if check_range and y.numel():
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= num_classes:
            bad = hi if hi >= num_classes else lo
            hint = (f"; labels counted from 1? subtract 1 (classes are 0..{num_classes - 1})" if hi == num_classes
                    and lo >= 1 else "")
            raise ValueError(f"{who}: class label {bad} is out of range: it has {num_classes} classes, "
                             f"0..{num_classes - 1}{hint}")
    return y.long()


def _range_checked(y: torch.Tensor, module: nn.Module) -> bool:
    """Whether a forward pass checks the label values: always, except while training on an accelerator,
    where reading them back would stall every step (train() checks the first batch instead)."""
    return not (module.training and isinstance(y, torch.Tensor) and y.device.type != "cpu")


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose scale and shift are looked up per class (conditional BatchNorm: de Vries et al.
    2017, Dumoulin et al. 2017's conditional instance norm; as in the generator of Miyato & Koyama 2018.
    BigGAN's variant computes them instead: a linear map of a shared class embedding concatenated with a
    chunk of z, per layer, in its authors' code BigGAN-PyTorch):

        out = gamma[y] * (x - mean_B) / sqrt(var_B + eps) + beta[y]

    The normalisation is plain BatchNorm without its own affine part; ``gamma`` and ``beta`` are
    ``(num_classes, C)`` tables (embeddings). ``y`` may also be a ``(B, num_classes)`` float tensor of
    class weights: the scale and shift are then the weighted mixture of the classes' (notebook 09 walks
    from one class to another that way).
    """

    def __init__(self, num_features: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.gain = nn.Embedding(num_classes, num_features)     # gamma_c, (K, C)
        self.shift = nn.Embedding(num_classes, num_features)    # beta_c,  (K, C)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.bn(x)                                          # (B, C, H, W), zero mean, unit variance per channel
        if y.is_floating_point():                               # (B, K) class weights
            gamma, beta = y @ self.gain.weight, y @ self.shift.weight      # (B, K) @ (K, C) -> (B, C)
        else:
            gamma, beta = self.gain(y), self.shift(y)           # (B,) -> (B, C)
        return gamma[:, :, None, None] * h + beta[:, :, None, None]        # gamma[y] * x_hat + beta[y]


# ----------------------------------------------------------------------------- Salimans et al. 2016
class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination (Salimans et al. 2016, section 3.2), notebook 14.

    A discriminator that scores every sample on its own cannot see that a batch of fakes is all alike
    (mode collapse). This layer gives each sample statistics of its closeness to the rest of the batch.
    With f(x_i) in R^A the features of sample i (``in_features = A``) and a learned tensor
    ``T`` of shape ``(A, B, C)`` (``out_features = B``, ``kernel_dims = C``):

        M_i = f(x_i) T                              (B, C): row b is M_{i,b}
        c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_1)
        o(x_i)_b = sum_{j=1..n} c_b(x_i, x_j)         j over the whole batch, i included (as in the paper)

    ``forward(f)`` maps ``(n, A)`` to ``o`` of shape ``(n, B)``; the discriminator concatenates it with
    f(x_i) before its next layer. A batch of identical samples gives o = n in every column, a spread-out
    one values near 1 (only the sample itself). The authors' code leaves out j = i (a constant 1 per
    column, which the next layer's bias absorbs) and uses B = 100, C = 5 with T ~ N(0, 0.05) (here the
    initialisation too; their weight normalisation of T is not).
    """

    def __init__(self, in_features: int, out_features: int = 100, kernel_dims: int = 5, init_std: float = 0.05):
        super().__init__()
        _check_sizes("MinibatchDiscrimination", in_features=in_features, out_features=out_features,
                     kernel_dims=kernel_dims)
        self.in_features, self.out_features, self.kernel_dims = in_features, out_features, kernel_dims
        self.T = nn.Parameter(torch.randn(in_features, out_features, kernel_dims) * init_std)   # (A, B, C)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, kernel_dims={self.kernel_dims}"

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        if f.dim() != 2 or f.shape[1] != self.in_features:
            raise ValueError(f"MinibatchDiscrimination expects features (n, {self.in_features}), got {tuple(f.shape)}")
        dt = torch.float64 if f.dtype == torch.float64 else torch.float32     # fp16/bf16 under autocast: fp32 distances
        M = torch.einsum("na,abc->nbc", f.to(dt), self.T.to(dt))              # (n, B, C): M_i = f(x_i) T
        Mb = M.permute(1, 0, 2).contiguous()                                  # (B, n, C): one set of rows per kernel b
        l1 = torch.cdist(Mb, Mb, p=1)                                         # (B, n, n): ||M_{i,b} - M_{j,b}||_1
        o = torch.exp(-l1).sum(dim=2)                                         # (B, n): sum over j, i included
        return o.t().to(f.dtype)                                              # (n, B)


def _minibatch_stddev_of_vectors(layer: "MinibatchStdDev", f: torch.Tensor) -> torch.Tensor:
    """The minibatch standard deviation of feature vectors ``(n, A)`` as one extra feature ``(n, 1)``
    (the layer works on maps: the vectors are (n, A, 1, 1) maps here)."""
    return layer(f[:, :, None, None])[:, f.shape[1]:, 0, 0]                    # (n, A+1, 1, 1) -> the new channel


class VirtualBatchNorm(nn.Module):
    """Virtual batch normalisation (Salimans et al. 2016, section 3.5), notebook 14.

    BatchNorm makes a sample's output depend on the other samples of its batch. VBN normalises each
    sample with the statistics of a **reference batch**, chosen once at the start of training, **and of
    the sample itself**; the reference batch is normalised with its own statistics only. The layer gets
    the reference batch's activations stacked on top of the batch's: ``forward(h)`` with ``h`` of shape
    ``(n_ref + n, C, ...)``, rows ``:n_ref`` the reference batch (the generator puts its fixed reference
    codes there, :class:`DCGANGenerator` and :class:`MLPGenerator` with ``norm="virtual"``). Per channel c,
    with means over the batch and any spatial positions:

        mu_ref, m2_ref = E_ref[h_c], E_ref[h_c^2]                    (the reference batch)
        mu_i = (n_ref mu_ref + mean(h_{i,c})) / (n_ref + 1)           (sample i joins the reference batch)
        m2_i = (n_ref m2_ref + mean(h_{i,c}^2)) / (n_ref + 1),  var_i = m2_i - mu_i^2
        out_i = gamma_c (h_{i,c} - mu_i) / sqrt(var_i + eps) + beta_c

    as in the authors' ImageNet code (coefficients 1/(n_ref + 1) and n_ref/(n_ref + 1)). The output for
    sample i does not depend on the other samples of its batch, and training and evaluation compute the
    same thing. It costs a forward pass of the reference batch at every call, which is why the paper
    used it in the generator only.
    """

    def __init__(self, num_features: int, n_ref: int, eps: float = 1e-5):
        super().__init__()
        if not isinstance(n_ref, int) or n_ref < 1:
            raise ConfigError(f"VirtualBatchNorm: n_ref={n_ref!r} must be a whole number >= 1 (the reference batch size)")
        self.num_features, self.n_ref, self.eps = num_features, n_ref, eps
        self.weight = nn.Parameter(torch.ones(num_features))      # gamma
        self.bias = nn.Parameter(torch.zeros(num_features))       # beta

    def extra_repr(self) -> str:
        return f"{self.num_features}, n_ref={self.n_ref}, eps={self.eps}"

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if h.dim() < 2 or h.shape[1] != self.num_features or h.shape[0] <= self.n_ref:
            raise ValueError(f"VirtualBatchNorm expects (n_ref + n, {self.num_features}, ...) with the {self.n_ref} "
                             f"reference rows first, got {tuple(h.shape)}")
        dims = tuple(range(2, h.dim()))                                       # spatial dimensions, if any
        dtype = h.dtype
        h = h if h.dtype == torch.float64 else h.float()                      # fp16/bf16 under autocast: fp32 statistics
        ref, x = h[:self.n_ref], h[self.n_ref:]
        shape = (1, -1) + (1,) * len(dims)                                    # broadcast over (n, C, ...)
        mu_ref = ref.mean(dim=(0,) + dims).view(shape)                        # (1, C, 1, 1): E_ref[h]
        m2_ref = ref.pow(2).mean(dim=(0,) + dims).view(shape)                 # E_ref[h^2]
        out_ref = (ref - mu_ref) / torch.sqrt((m2_ref - mu_ref ** 2).clamp_min(0) + self.eps)   # its own statistics
        k = 1.0 / (self.n_ref + 1)
        mu_x = x.mean(dim=dims, keepdim=True) if dims else x                  # (n, C, 1, 1): each sample's own mean
        m2_x = x.pow(2).mean(dim=dims, keepdim=True) if dims else x.pow(2)
        mu = (1 - k) * mu_ref + k * mu_x                                      # (n_ref mu_ref + mu_x) / (n_ref + 1)
        m2 = (1 - k) * m2_ref + k * m2_x
        out_x = (x - mu) / torch.sqrt((m2 - mu ** 2).clamp_min(0) + self.eps)   # (n, C, ...); var >= 0 despite rounding
        out = torch.cat([out_ref, out_x]) * self.weight.view(shape) + self.bias.view(shape)
        return out.to(dtype)


def _check_minibatch(minibatch) -> None:
    if minibatch not in MINIBATCH_LAYERS:
        raise ConfigError(f"minibatch={minibatch!r}; use one of {MINIBATCH_LAYERS}")


#: what a discriminator's ``minibatch=`` may be: None, Salimans et al.'s layer, or ProGAN's
MINIBATCH_LAYERS = (None, "discrimination", "stddev")
#: what a generator's ``norm=`` may be (MLPGenerator: None too, its default)
G_NORMS = ("batch", "virtual")
def _check_sizes(who: str, **sizes) -> None:
    """Each size a whole number >= 1, else one :class:`ConfigError` naming it (a width of 0 would build
    layers of no channels and fail later with an obscure shape error)."""
    for name, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{who}: {name}={v!r} must be a whole number >= 1")


# ----------------------------------------------------------------------------- MLPs
def _mlp(sizes, act, out_act=None, spectral=False):
    layers = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        layers.append(spectral_norm(lin) if spectral else lin)
        if i < len(sizes) - 2:
            layers.append(act())
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z (B, latent_dim) -> x (B, *out_shape). ``out_shape=(2,)`` for toys, ``(1, 28, 28)`` for images.

    ``tanh_output=True`` for images in [-1, 1]; toys leave the output unbounded. ``norm``: None (the
    default: no normalisation, notebooks 02-03), "batch" (BatchNorm after every hidden layer) or
    "virtual" (:class:`VirtualBatchNorm` there, with a fixed reference batch of ``n_ref`` codes drawn at
    construction and kept as the buffer ``ref_z``, so it is saved with the weights; notebook 14).
    """

    def __init__(self, latent_dim: int = 64, out_shape=(2,), hidden: int = 256, depth: int = 3,
                 tanh_output: bool = False, norm: Optional[str] = None, n_ref: int = 64):
        super().__init__()
        if norm not in (None,) + G_NORMS:
            raise ConfigError(f"norm={norm!r}; use None, 'batch' or 'virtual'")
        _check_sizes("MLPGenerator", latent_dim=latent_dim, hidden=hidden, depth=depth)
        out_shape = tuple(int(s) for s in (out_shape if isinstance(out_shape, (tuple, list)) else (out_shape,)))
        self.config = {"kind": "MLPGenerator", "latent_dim": latent_dim, "out_shape": list(out_shape),
                       "hidden": hidden, "depth": depth, "tanh_output": tanh_output}
        if norm is not None:                         # only then: the configs of notebooks 02-03 stay as they were
            self.config["norm"] = norm
            if norm == "virtual":
                self.config["n_ref"] = n_ref
        self.latent_dim = latent_dim
        self.out_shape = out_shape
        self.norm = norm
        if norm is None:
            self.net = _mlp([latent_dim] + [hidden] * depth + [math.prod(out_shape)], nn.ReLU,
                            nn.Tanh() if tanh_output else None)
        else:
            layers, width = [], latent_dim
            for _ in range(depth):                   # Linear -> BatchNorm or VBN -> ReLU
                layers += [nn.Linear(width, hidden),
                           nn.BatchNorm1d(hidden) if norm == "batch" else VirtualBatchNorm(hidden, n_ref), nn.ReLU()]
                width = hidden
            layers.append(nn.Linear(width, math.prod(out_shape)))
            if tanh_output:
                layers.append(nn.Tanh())
            self.net = nn.Sequential(*layers)
        if norm == "virtual":
            self.n_ref = n_ref
            self.register_buffer("ref_z", torch.randn(n_ref, latent_dim))   # the reference batch, fixed for good

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.norm == "virtual":
            h = self.net(torch.cat([self.ref_z.to(z.dtype), z]))           # (n_ref + B, prod): reference rows first
            return h[self.n_ref:].view(z.shape[0], *self.out_shape)
        return self.net(z).view(z.shape[0], *self.out_shape)  # (B, prod) -> (B, *out_shape)


class MLPDiscriminator(nn.Module):
    """x (B, *in_shape) -> logits (B,). LeakyReLU(0.2) hidden layers; ``spectral=True`` wraps
    every Linear in spectral normalisation.

    :meth:`features` is phi(x), the last hidden layer ``(B, hidden)`` (feature matching, notebook 14).
    ``minibatch="discrimination"`` adds :class:`MinibatchDiscrimination` (``mbd_features`` kernels of
    ``mbd_kernel_dims`` dimensions) on phi(x), ``minibatch="stddev"`` ProGAN's minibatch standard
    deviation (one feature); either is concatenated to phi(x) before the read-out (notebook 14). Such a D
    scores a sample in the context of its batch.
    """

    def __init__(self, in_shape=(2,), hidden: int = 256, depth: int = 3, spectral: bool = False,
                 minibatch: Optional[str] = None, mbd_features: int = 100, mbd_kernel_dims: int = 5):
        super().__init__()
        _check_minibatch(minibatch)
        _check_sizes("MLPDiscriminator", hidden=hidden, depth=depth)
        in_shape = tuple(int(s) for s in (in_shape if isinstance(in_shape, (tuple, list)) else (in_shape,)))
        self.config = {"kind": "MLPDiscriminator", "in_shape": list(in_shape), "hidden": hidden,
                       "depth": depth, "spectral": spectral}
        if minibatch is not None:                    # only then: the configs of notebooks 02-03 stay as they were
            self.config["minibatch"] = minibatch
            if minibatch == "discrimination":
                self.config.update(mbd_features=mbd_features, mbd_kernel_dims=mbd_kernel_dims)
        self.in_shape = in_shape
        self.minibatch = minibatch
        self.net = _mlp([math.prod(in_shape)] + [hidden] * depth + [1], lambda: nn.LeakyReLU(0.2),
                        spectral=spectral)
        extra = 0
        if minibatch == "discrimination":
            self.minibatch_layer = MinibatchDiscrimination(hidden, mbd_features, mbd_kernel_dims)
            extra = mbd_features
        elif minibatch == "stddev":
            self.minibatch_layer = MinibatchStdDev(group_size=4)
            extra = 1
        if extra:                                    # the read-out sees [phi(x), o(x)]
            head = nn.Linear(hidden + extra, 1)
            self.net[-1] = spectral_norm(head) if spectral else head

    def _check(self, x: torch.Tensor) -> None:
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"MLPDiscriminator expects inputs shaped (B, {', '.join(map(str, self.in_shape))}), "
                             f"got {tuple(x.shape)}: the generator's output and the data must match")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """phi(x): the last hidden layer, ``(B, hidden)`` (every layer but the read-out)."""
        self._check(x)
        return self.net[:-1](x.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.minibatch is None:
            self._check(x)
            return self.net(x.flatten(1)).view(-1)  # (B, 1) -> (B,)
        h = self.features(x)                                                    # (B, hidden)
        if self.minibatch == "discrimination":
            h = torch.cat([h, self.minibatch_layer(h)], 1)                     # (B, hidden + mbd_features)
        else:
            h = torch.cat([h, _minibatch_stddev_of_vectors(self.minibatch_layer, h)], 1)   # (B, hidden + 1)
        return self.net[-1](h).view(-1)


# ----------------------------------------------------------------------------- DCGAN
def _plan(image_size: int):
    """Start resolution and number of stride-2 up/down-samplings for each supported size."""
    if image_size not in IMAGE_SIZES:
        raise ConfigError(f"image_size={image_size} is not supported; use one of {IMAGE_SIZES} "
                         "(gan_utils.data.load_dataset(..., image_size=32) pads 28x28 images)")
    return {28: (7, 2), 32: (4, 3), 64: (4, 4)}[image_size]


class DCGANGenerator(nn.Module):
    """DCGAN generator: z (B, latent_dim) -> image (B, channels, image_size, image_size) in [-1, 1].

    A linear-free stack: the latent is treated as a (latent_dim, 1, 1) map and grown by
    ConvTranspose2d layers (stride 2 doubles the size), BatchNorm + ReLU after each, tanh at the
    end. Channels halve as the resolution doubles: 64x64 with width 64 is the paper's
    1024->512->256->128 scaled by width/128.

    ``num_classes=K`` makes it class-conditional, ``G(z, y)`` with ``y`` a ``(B,)`` tensor of classes
    0..K-1 (notebook 09): every BatchNorm becomes a :class:`ConditionalBatchNorm2d`, whose scale and
    shift are learned per class. Why conditional BatchNorm rather than concatenating an embedding of y
    to z: in this generator, concatenation reaches only the first layer (it adds a class-dependent 4x4
    map to that layer's output, and later layers see the class only through what survives of it),
    while conditional BatchNorm sets the scale and shift of every layer's channels, at every
    resolution, for the class asked for.
    It is the generator of the projection-discriminator paper (Miyato & Koyama 2018; BigGAN computes the
    scale and shift from a shared class embedding and a chunk of z instead of a table per class),
    costs 2 * K * C numbers per layer, and leaves the convolutions exactly as in the unconditional
    model. ``y`` may also be ``(B, K)`` class weights (rows summing to 1): a mixture of the classes'
    scales and shifts, for walks between classes. ``num_classes=None`` is the unconditional DCGAN,
    unchanged (its config and state_dict keys are those of notebook 04's checkpoints).

    ``norm="virtual"`` (unconditional only) replaces every BatchNorm by :class:`VirtualBatchNorm`
    (Salimans et al. 2016, section 3.5; notebook 14): ``n_ref`` reference codes are drawn once, at
    construction, and kept as the buffer ``ref_z`` (saved with the weights, so a resumed run keeps its
    reference batch); every forward pass runs them in front of the batch.
    """

    def __init__(self, latent_dim: int = 100, channels: int = 1, image_size: int = 32, width: int = 64,
                 num_classes: Optional[int] = None, norm: str = "batch", n_ref: int = 64):
        super().__init__()
        _check_sizes("DCGANGenerator", latent_dim=latent_dim, channels=channels, width=width)
        if num_classes is not None and (not isinstance(num_classes, int) or isinstance(num_classes, bool)
                                        or num_classes < 1):
            raise ConfigError(f"num_classes={num_classes!r} must be a whole number >= 1 (None: unconditional)")
        if norm not in G_NORMS:
            raise ConfigError(f"norm={norm!r}; use one of {G_NORMS}")
        if norm == "virtual" and num_classes is not None:
            raise ConfigError("norm='virtual' is for the unconditional generator (a class-conditional one uses "
                             "conditional BatchNorm)")
        self.config = {"kind": "DCGANGenerator", "latent_dim": latent_dim, "channels": channels,
                       "image_size": image_size, "width": width}
        if num_classes is not None:                  # only then: unconditional configs stay as they were
            self.config["num_classes"] = num_classes
        if norm == "virtual":                        # only then: the configs of notebook 04 stay as they were
            self.config.update(norm=norm, n_ref=n_ref)
        self.latent_dim, self.channels, self.image_size = latent_dim, channels, image_size
        self.num_classes = num_classes
        self.norm = norm
        start, n_up = _plan(image_size)
        ch = width * 2 ** (n_up - 1)

        def norm_layer(c):
            if num_classes is not None:
                return ConditionalBatchNorm2d(c, num_classes)
            return nn.BatchNorm2d(c) if norm == "batch" else VirtualBatchNorm(c, n_ref)

        layers = [
            # (B, latent_dim, 1, 1) -> (B, ch, start, start)
            nn.ConvTranspose2d(latent_dim, ch, start, 1, 0, bias=False),
            norm_layer(ch),
            nn.ReLU(True),
        ]
        for _ in range(n_up - 1):
            # (B, ch, s, s) -> (B, ch/2, 2s, 2s)
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), norm_layer(ch // 2), nn.ReLU(True)]
            ch //= 2
        # (B, width, s, s) -> (B, channels, 2s, 2s) = image_size
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        if norm == "virtual":
            self.n_ref = n_ref
            self.register_buffer("ref_z", torch.randn(n_ref, latent_dim))   # the reference batch, fixed for good
        dcgan_init(self)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"DCGANGenerator expects z shaped (B, {self.latent_dim}), got {tuple(z.shape)}")
        if self.num_classes is None:
            if y is not None:
                raise ValueError("this DCGANGenerator is unconditional (num_classes=None) and takes no labels; "
                                 "build it with num_classes=K for G(z, y)")
            if self.norm == "virtual":            # the reference codes first: (n_ref + B, nz, 1, 1)
                return self.net(torch.cat([self.ref_z.to(z.dtype), z])[:, :, None, None])[self.n_ref:]
            return self.net(z[:, :, None, None])  # (B, nz) -> (B, nz, 1, 1) -> (B, C, H, W)
        y = self._labels(y, z.shape[0])
        h = z[:, :, None, None]                   # (B, nz, 1, 1)
        for layer in self.net:                    # the same stack, the label reaching every BatchNorm
            h = layer(h, y) if isinstance(layer, ConditionalBatchNorm2d) else layer(h)
        return h                                  # (B, C, H, W)

    def _labels(self, y, batch: int) -> torch.Tensor:
        if isinstance(y, torch.Tensor) and y.is_floating_point() and y.dim() == 2:
            if tuple(y.shape) != (batch, self.num_classes):
                raise ValueError(f"class weights must be shaped ({batch}, {self.num_classes}), got {tuple(y.shape)}")
            if (y < 0).any() or not torch.allclose(y.sum(1), torch.ones_like(y[:, 0]), atol=1e-4):
                raise ValueError("class weights must be >= 0 with rows summing to 1 (a mixture of classes)")
            return y
        return check_labels(y, self.num_classes, batch, "DCGANGenerator", _range_checked(y, self))


def _norm_layer(norm: str, ch: int, size: int):
    if norm == "batch":
        return nn.BatchNorm2d(ch)
    if norm == "layer":
        # LayerNorm over (C, H, W) of each sample: no coupling between samples, so the
        # per-sample gradient penalty stays valid (WGAN-GP, section 4).
        return nn.GroupNorm(1, ch)
    return nn.Identity()


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator / WGAN critic: image (B, C, H, W) -> logits (B,).

    Strided Conv2d (stride 2 halves the size), LeakyReLU(0.2), no pooling, no Sigmoid.
    ``norm``: "batch" (DCGAN), "layer" or "none" (WGAN-GP critics: BatchNorm couples the samples of
    a batch and breaks the per-sample gradient penalty), "spectral" (spectral normalisation of every
    conv, Miyato et al. 2018; no other normalisation).

    ``num_classes=K`` makes it class-conditional, ``D(x, y)`` (notebook 09). Call the output of the
    last hidden layer phi(x) (flattened: ``ch * start * start`` numbers) and the final conv psi, so
    that the unconditional logit is psi(phi(x)). ``conditioning``:

    * "projection" (Miyato & Koyama 2018): ``D(x, y) = psi(phi(x)) + <V[y], phi(x)>`` with a learned
      class embedding ``V`` (K, ch*start*start). Since psi is linear here (one conv whose kernel covers
      the whole map), this is a last layer whose weights are ``w + V[y]``: one read-out per class,
      sharing everything below. ``(B,)`` logits.
    * "concat": the label as K one-hot channels concatenated to the image (the input-concatenation
      cGAN, Mirza & Osindero 2014, in its DCGAN form). ``(B,)`` logits.
    * "acgan" (Odena, Olah, Shlens 2017): the unconditional logit plus a classifier head on phi(x)
      (:meth:`classify`, ``(B, K)`` class logits); ``D(x, y)`` returns ``(B, 2)``: column 0 the
      real/fake logit, column 1 ``log p(y | x)`` of the given labels, what the "acgan" loss of
      :mod:`gan_utils.losses` needs.

    With ``norm="spectral"`` the projection embedding is spectrally normalised too (as in Miyato &
    Koyama 2018); the AC-GAN classifier head is not (its logits must be free to grow).
    ``num_classes=None`` is the unconditional model, unchanged.

    ``minibatch`` (unconditional only; notebook 14): "discrimination" adds Salimans et al. 2016's
    :class:`MinibatchDiscrimination` on phi(x) (``mbd_features`` kernels of ``mbd_kernel_dims``
    dimensions; their code's 100 and 5), read out linearly beside psi: the logit is psi(phi(x)) + <w, o(x)>,
    a linear layer on the concatenation [phi(x), o(x)]. "stddev" inserts ProGAN's
    :class:`MinibatchStdDev` (groups of 4) before psi, which then sees ``ch + 1`` channels.
    """

    def __init__(self, channels: int = 1, image_size: int = 32, width: int = 64, norm: str = "batch",
                 num_classes: Optional[int] = None, conditioning: str = "projection",
                 minibatch: Optional[str] = None, mbd_features: int = 100, mbd_kernel_dims: int = 5):
        super().__init__()
        _check_sizes("DCGANDiscriminator", channels=channels, width=width)
        if norm not in NORMS:
            raise ConfigError(f"norm={norm!r}; use one of {NORMS}")
        _check_minibatch(minibatch)
        if minibatch is not None and num_classes is not None:
            raise ConfigError("minibatch= is for the unconditional discriminator (num_classes=None)")
        if num_classes is not None and (not isinstance(num_classes, int) or isinstance(num_classes, bool)
                                        or num_classes < 1):
            raise ConfigError(f"num_classes={num_classes!r} must be a whole number >= 1 (None: unconditional)")
        if conditioning not in CONDITIONINGS:
            raise ConfigError(f"conditioning={conditioning!r}; use one of {CONDITIONINGS}")
        self.config = {"kind": "DCGANDiscriminator", "channels": channels, "image_size": image_size,
                       "width": width, "norm": norm}
        if num_classes is not None:                  # only then: unconditional configs stay as they were
            self.config.update(num_classes=num_classes, conditioning=conditioning)
        if minibatch is not None:                    # likewise: notebook 04's configs stay as they were
            self.config["minibatch"] = minibatch
            if minibatch == "discrimination":
                self.config.update(mbd_features=mbd_features, mbd_kernel_dims=mbd_kernel_dims)
        self.channels, self.image_size, self.norm = channels, image_size, norm
        self.minibatch = minibatch
        self.num_classes = num_classes
        self.conditioning = conditioning if num_classes is not None else None
        start, n_down = _plan(image_size)
        sn = spectral_norm if norm == "spectral" else (lambda m: m)
        ch, size = width, image_size // 2
        in_ch = channels + (num_classes if self.conditioning == "concat" else 0)   # + K one-hot label maps
        # (B, C, S, S) -> (B, width, S/2, S/2): no norm on the first layer (DCGAN guideline)
        layers = [sn(nn.Conv2d(in_ch, ch, 4, 2, 1, bias=norm in ("none", "spectral"))), nn.LeakyReLU(0.2, True)]
        for _ in range(n_down - 1):
            # (B, ch, s, s) -> (B, 2ch, s/2, s/2)
            layers += [sn(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=norm in ("none", "spectral"))),
                       _norm_layer(norm, ch * 2, size // 2), nn.LeakyReLU(0.2, True)]
            ch, size = ch * 2, size // 2
        # (B, ch, start, start) -> (B, 1, 1, 1); with the minibatch std, (B, ch + 1, start, start) -> (B, 1, 1, 1)
        layers.append(sn(nn.Conv2d(ch + (minibatch == "stddev"), 1, start, 1, 0, bias=False)))
        self.net = nn.Sequential(*layers)
        self.feature_dim = ch * start * start        # dimension of phi(x)
        if minibatch == "discrimination":
            self.minibatch_layer = MinibatchDiscrimination(self.feature_dim, mbd_features, mbd_kernel_dims)
            self.minibatch_head = sn(nn.Linear(mbd_features, 1, bias=False))   # w: o(x) -> its share of the logit
        elif minibatch == "stddev":
            self.minibatch_layer = MinibatchStdDev(group_size=4)
        if self.conditioning == "projection":
            self.embed = sn(nn.Embedding(num_classes, self.feature_dim))        # V: (K, ch*start*start)
        elif self.conditioning == "acgan":
            # phi(x) flattened (B, ch*start*start) -> (B, K): class logits, a linear read-out like psi. Never
            # spectrally normalised: on the normalised features that would cap the classifier's logits (and its
            # confidence), and the class term would hardly train G
            self.classifier = nn.Linear(self.feature_dim, num_classes)
        dcgan_init(self)
        if self.conditioning == "acgan":                 # N(0, 0.02) like the convs (dcgan_init leaves Linear alone)
            with torch.no_grad():
                nn.init.normal_(_raw_weight(self.classifier), 0.0, 0.02)
                nn.init.zeros_(self.classifier.bias)
        if minibatch == "discrimination":                # likewise
            with torch.no_grad():
                nn.init.normal_(_raw_weight(self.minibatch_head), 0.0, 0.02)

    def _check_images(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.channels, self.image_size, self.image_size):
            raise ValueError(
                f"DCGANDiscriminator expects images shaped (B, {self.channels}, {self.image_size}, "
                f"{self.image_size}), got {tuple(x.shape)}. Load the data with "
                f"load_dataset(..., image_size={self.image_size}) and build G and D with the same "
                "channels and image_size.")

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        self._check_images(x)
        if self.num_classes is None:
            if y is not None:
                raise ValueError("this DCGANDiscriminator is unconditional (num_classes=None) and takes no labels; "
                                 "build it with num_classes=K for D(x, y)")
            if self.minibatch is None:
                return self.net(x).view(-1)  # (B, 1, 1, 1) -> (B,)
            h = self.features(x)                                                 # phi(x): (B, ch, start, start)
            if self.minibatch == "stddev":
                return self.net[-1](self.minibatch_layer(h)).view(-1)            # psi([phi(x), std]): (B,)
            o = self.minibatch_layer(h.flatten(1))                               # o(x): (B, mbd_features)
            return self.net[-1](h).view(-1) + self.minibatch_head(o).view(-1)   # psi(phi(x)) + <w, o(x)>
        y = check_labels(y, self.num_classes, x.shape[0], "DCGANDiscriminator", _range_checked(y, self))
        if self.conditioning == "concat":
            onehot = F.one_hot(y, self.num_classes).to(x.dtype)                  # (B, K)
            maps = onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])         # (B, K, H, W)
            return self.net(torch.cat([x, maps], 1)).view(-1)                    # (B, C + K, H, W) -> (B,)
        h = self.features(x)                                                     # phi(x): (B, ch, start, start)
        logit = self.net[-1](h).view(-1)                                         # psi(phi(x)): (B,)
        if self.conditioning == "projection":
            return logit + (self.embed(y) * h.flatten(1)).sum(1)                 # + <V[y], phi(x)>: (B,)
        log_p = F.log_softmax(self.classifier(h.flatten(1)).float(), 1)         # (B, K): log p(k | x)
        return torch.stack([logit.float(), log_p.gather(1, y[:, None]).squeeze(1)], 1)  # (B, 2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """phi(x): the last hidden layer, ``(B, ch, start, start)`` (every layer but the read-out)."""
        for layer in list(self.net)[:-1]:
            x = layer(x)
        return x

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """AC-GAN only: the auxiliary classifier's class logits ``(B, K)`` for images ``x``."""
        if self.conditioning != "acgan":
            raise ValueError("classify() needs the AC-GAN head: DCGANDiscriminator(num_classes=K, conditioning='acgan')")
        self._check_images(x)
        return self.classifier(self.features(x).flatten(1))                      # (B, ch*start*start) -> (B, K)


@torch.no_grad()
def dcgan_init(model: nn.Module) -> nn.Module:
    """DCGAN initialisation (Radford et al. 2016, section 4): conv weights ~ N(0, 0.02),
    BatchNorm weight ~ N(1, 0.02) and bias = 0. Spectral-normalised convs are initialised through
    their original weight. Class-conditional layers (notebook 09) follow the same rule: the
    per-class BatchNorm scales ~ N(1, 0.02) and shifts = 0, a projection embedding ~ N(0, 0.02)
    like the read-out it adds to."""
    tables = {id(t) for c in model.modules() if isinstance(c, ConditionalBatchNorm2d) for t in (c.gain, c.shift)}
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)):
            if id(m) in tables:
                continue                                   # set with their ConditionalBatchNorm2d below
            nn.init.normal_(_raw_weight(m), 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, ConditionalBatchNorm2d):
            nn.init.normal_(m.gain.weight, 1.0, 0.02)     # gamma_c ~ N(1, 0.02) for every class
            nn.init.zeros_(m.shift.weight)                # beta_c = 0
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, VirtualBatchNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return model


def _raw_weight(m: nn.Module) -> torch.Tensor:
    """The weight a layer learns: the original one under a spectral-norm parametrization."""
    return m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def default_critic_norm(loss: str) -> str:
    """The critic normalisation a loss needs when none is asked for: LayerNorm for wgan-gp (its
    per-sample penalty rules out BatchNorm), spectral norm for wgan-sn (its only constraint),
    BatchNorm (the DCGAN default) otherwise."""
    return {"wgan-gp": "layer", "wgan-sn": "spectral"}.get(loss, "batch")


def has_spectral_norm(model: nn.Module) -> bool:
    """True if any layer's weight is spectrally normalised (the parametrization API or the older
    ``torch.nn.utils.spectral_norm`` hook, which leaves a ``weight_orig``)."""
    from torch.nn.utils import parametrize

    for m in model.modules():
        if hasattr(m, "weight_orig"):
            return True
        if parametrize.is_parametrized(m, "weight") and any(
                type(p).__name__ == "_SpectralNorm" for p in m.parametrizations.weight):
            return True
    return False


# ----------------------------------------------------------------------------- StyleGAN, built small
# Notebook 12 (notebooks/12_stylegan.ipynb) teaches every piece: equalised learning rate (ProGAN, Karras et al.
# 2018, Sec. 4.1), the mapping network, AdaIN (StyleGAN, Karras, Laine, Aila 2019, Sec. 2), modulation and
# demodulation (StyleGAN2, Karras et al. 2020, Sec. 2.2, eqs. 1-3), noise inputs, style mixing, truncation in W.
LRELU_GAIN = math.sqrt(2.0)       # lrelu(x) * sqrt(2): keeps unit-variance inputs near unit variance (He et al. 2015)
STYLE_MODES = ("demod", "adain")  # StyleGenerator(mode=...): StyleGAN2's weight demodulation | StyleGAN's AdaIN
NOISE_MODES = ("random", "const", "none")


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2) * LRELU_GAIN


class EqualisedLinear(nn.Module):
    """A linear layer with ProGAN's equalised learning rate (Karras et al. 2018, Sec. 4.1): the weight is
    stored as ``v ~ N(0, 1 / lr_mul^2)`` and used as ``w = v * lr_mul / sqrt(in_features)`` at every call,
    the bias as ``b * lr_mul``. Adam's step is about ``lr`` per stored number whatever the gradient's scale,
    so every layer's *effective* weights move by ``lr * lr_mul / sqrt(fan_in)`` per step, in proportion to
    their own size ``lr_mul / sqrt(fan_in)``: the same relative speed for every fan-in (with He's
    initialisation done once, instead, a layer with a larger fan-in has smaller weights and moves faster
    relative to them). ``lr_mul = 0.01`` slows a layer down 100 times: StyleGAN's mapping network
    ("we thus reduce the learning rate by two orders of magnitude", Karras et al. 2019, App. C)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, lr_mul: float = 1.0,
                 bias_init: float = 0.0):
        super().__init__()
        self.in_features, self.out_features, self.lr_mul = in_features, out_features, lr_mul
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)        # v ~ N(0, 1/lr_mul^2)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul)) if bias else None
        self.weight_gain = lr_mul / math.sqrt(in_features)                                 # runtime scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bias * self.lr_mul if self.bias is not None else None
        return F.linear(x, self.weight * self.weight_gain, b)                              # (B, in) -> (B, out)


class EqualisedConv2d(nn.Module):
    """A convolution with equalised learning rate: weight ``v ~ N(0, 1)``, used as ``v / sqrt(C_in k k)``;
    same padding. The style discriminator's layers and the AdaIN generator's convolutions."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.weight.shape[-1]
        return F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=k // 2)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     padding: Optional[int] = None, fused: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """StyleGAN2's modulated convolution (Karras et al. 2020, Sec. 2.2): each sample ``b`` gets its own
    weights, the input channels scaled by its style and, with ``demodulate``, every output channel
    rescaled to unit norm:

        w'_bjik  = s_bi * w_jik                                  (modulation, eq. 1)
        w''_bjik = w'_bjik / sqrt(sum_{i,k} w'_bjik^2 + eps)     (demodulation, eq. 3)

    (j: output channel, i: input channel, k: kernel position.) For inputs of unit variance, independent
    across channels and pixels, output channel j has variance sum_{i,k} w'^2 (eq. 2); demodulation sets it to
    1 whatever the style (at the border, where zero padding removes terms, it is less).

    ``fused=True``: one grouped convolution with the per-sample weights (the batch becomes ``B`` groups of
    ``C_in`` channels). ``fused=False``: the same numbers without building them: scale the input channels by
    ``s``, convolve with the shared weight, scale the output channels by the demodulation factor
    ``1 / sqrt(sum_i s_bi^2 sum_k w_jik^2 + eps)``; cheaper when the per-sample weights outnumber the
    activations (small images, many channels: the CPU models of notebook 12), and what StyleGAN2's
    reference code does in training.

    ``x``: (B, C_in, H, W); ``weight``: (C_out, C_in, k, k); ``styles``: (B, C_in). ``padding`` defaults to
    ``k // 2`` (same size). Returns (B, C_out, H', W')."""
    if x.dim() != 4 or weight.dim() != 4 or styles.dim() != 2:
        raise ValueError(f"modulated_conv2d: x (B, C_in, H, W), weight (C_out, C_in, k, k), styles (B, C_in); got "
                         f"{tuple(x.shape)}, {tuple(weight.shape)}, {tuple(styles.shape)}")
    B, c_in, H, W = x.shape
    c_out, c_in_w, kh, kw = weight.shape
    if c_in_w != c_in or tuple(styles.shape) != (B, c_in):
        raise ValueError(f"modulated_conv2d: x has {c_in} channels and batch {B}, weight expects {c_in_w} input "
                         f"channels, styles are {tuple(styles.shape)} (need ({B}, {c_in}))")
    padding = kh // 2 if padding is None else padding
    if not fused:
        out = F.conv2d(x * styles[:, :, None, None], weight, padding=padding)      # conv(s * x) = conv with w'
        if demodulate:                                                             # sum_{i,k} w'^2 = s^2 . sum_k w^2
            d = torch.rsqrt(styles.square() @ weight.square().sum(dim=(2, 3)).t() + eps)   # (B, C_out)
            out = out * d[:, :, None, None]
        return out
    w = weight.unsqueeze(0) * styles[:, None, :, None, None]                   # (B, C_out, C_in, k, k): eq. 1
    if demodulate:
        w = w * torch.rsqrt(w.square().sum(dim=(2, 3, 4), keepdim=True) + eps)  # eq. 3: unit norm per (b, j)
    x = x.reshape(1, B * c_in, H, W)                                           # the batch as B groups
    out = F.conv2d(x, w.reshape(B * c_out, c_in, kh, kw), padding=padding, groups=B)
    return out.reshape(B, c_out, *out.shape[2:])                               # (B, C_out, H', W')


def truncate(w: torch.Tensor, psi, w_avg: torch.Tensor) -> torch.Tensor:
    """The truncation trick in W (Karras et al. 2019, App. B): ``w' = w_avg + psi (w - w_avg)``. ``psi = 1``
    leaves ``w`` as it is, ``psi = 0`` gives ``w_avg`` (the "average" image), ``0 < psi < 1`` pulls every
    code towards the centre of W, trading variety for typicality (negative psi: the "anti" image). ``w``:
    (B, w_dim) or (B, num_ws, w_dim); ``psi`` a number or a tensor broadcastable against ``w`` (one per layer:
    shape (num_ws, 1)); ``w_avg``: (w_dim,). Computed with ``torch.lerp``, exact at both ends."""
    psi = torch.as_tensor(psi, dtype=w.dtype, device=w.device)
    return torch.lerp(w_avg.to(w.dtype).expand_as(w), w, psi.expand_as(w))    # w_avg + psi (w - w_avg)


class _NoiseInput(nn.Module):
    """Adds per-pixel Gaussian noise, one single-channel image per sample, scaled per feature map by
    learned factors that start at 0 (StyleGAN: "learned per-feature scaling factors"). ``noise_mode``:
    "random" (new noise each call), "const" (this layer's fixed noise image, a buffer), "none" (off)."""

    def __init__(self, channels: int, resolution: int):
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(channels))                       # (C,), starts switched off
        self.register_buffer("const", torch.randn(1, 1, resolution, resolution))  # noise_mode="const"

    def forward(self, x: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        if noise_mode == "none":
            return x
        if noise_mode == "const":
            noise = self.const
        else:
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)  # (B, 1, H, W)
        return x + noise * self.strength[None, :, None, None]


class StyleLayer(nn.Module):
    """One synthesis layer, steered by one w (``mode``):

    - "demod" (StyleGAN2, Karras et al. 2020, Fig. 2d): ``s = A(w)`` (bias init 1), modulated and demodulated
      3x3 convolution, then noise, bias, leaky ReLU;
    - "adain" (StyleGAN, Karras et al. 2019, Fig. 1b): 3x3 convolution, noise, bias, leaky ReLU, then
      AdaIN: instance normalisation of every feature map and the style's scale and bias,
      ``y_s * (x - mu(x)) / sigma(x) + y_b`` with ``(y_s, y_b) = A(w)`` (y_s init 1).

    ``up=True`` doubles the resolution first (bilinear). ``self.tap`` (an identity) sees the activations
    after the nonlinearity, before any normalisation: forward hooks there read the feature maps (notebook
    12 measures their peak-to-mean ratio, the droplet statistic)."""

    def __init__(self, w_dim: int, in_channels: int, out_channels: int, resolution: int, mode: str = "demod",
                 up: bool = False):
        super().__init__()
        if mode not in STYLE_MODES:
            raise ValueError(f"mode={mode!r}; use one of {STYLE_MODES}")
        self.mode, self.up = mode, up
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))      # equalised: v ~ N(0, 1)
        self.weight_gain = 1.0 / math.sqrt(in_channels * 9)
        if mode == "demod":
            self.affine = EqualisedLinear(w_dim, in_channels, bias_init=1.0)        # s: one scale per input channel
        else:
            self.affine = EqualisedLinear(w_dim, 2 * out_channels)                  # (y_s - 1, y_b) per output map
        self.noise = _NoiseInput(out_channels, resolution)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.tap = nn.Identity()

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)  # (B, C, 2H, 2W)
        weight = self.weight * self.weight_gain
        if self.mode == "demod":
            x = modulated_conv2d(x, weight, self.affine(w), demodulate=True, fused=False)  # (B, C_out, H, W)
        else:
            x = F.conv2d(x, weight, padding=1)
        x = self.noise(x, noise_mode)
        x = self.tap(_lrelu(x + self.bias[None, :, None, None]))
        if self.mode == "adain":
            y = self.affine(w)                                                         # (B, 2 C_out)
            ys, yb = y[:, :x.shape[1], None, None] + 1, y[:, x.shape[1]:, None, None]
            x = F.instance_norm(x.float(), eps=1e-8).to(x.dtype)                       # (x - mu) / sigma per map
            x = ys * x + yb                                                            # AdaIN
        return x


class ToImage(nn.Module):
    """The last layer: a modulated 1x1 convolution without demodulation (StyleGAN2's tRGB) and a bias; the
    output is linear, no tanh (as in StyleGAN)."""

    def __init__(self, w_dim: int, in_channels: int, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels, in_channels, 1, 1))
        self.weight_gain = 1.0 / math.sqrt(in_channels)
        self.affine = EqualisedLinear(w_dim, in_channels, bias_init=1.0)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight * self.weight_gain, self.affine(w), demodulate=False, fused=False)
        return x + self.bias[None, :, None, None]


class MappingNetwork(nn.Module):
    """f: Z -> W (Karras et al. 2019, Sec. 2): z normalised to unit second moment ("pixel norm" of
    ProGAN, so only its direction matters), then ``layers`` fully connected layers with leaky ReLU, each
    learning ``lr_mul`` times slower than the rest of G. ``(B, latent_dim) -> (B, w_dim)``."""

    def __init__(self, latent_dim: int, w_dim: int, layers: int = 4, lr_mul: float = 0.01):
        super().__init__()
        dims = [latent_dim] + [w_dim] * layers
        self.layers = nn.ModuleList(EqualisedLinear(a, b, lr_mul=lr_mul) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)   # normalise z: |z| = sqrt(latent_dim)
        for layer in self.layers:
            x = _lrelu(layer(x))
        return x


class SynthesisNetwork(nn.Module):
    """g: W^L -> images. A learned constant 4x4 input, one :class:`StyleLayer` at 4x4, two per doubled
    resolution (the first upsamples), a :class:`ToImage`; layer ``i`` reads ``ws[:, i]``. Channels halve as
    the resolution doubles: ``width * 4`` at 4x4 ... ``width / 2`` at 32x32."""

    def __init__(self, w_dim: int, channels: int, image_size: int, width: int, mode: str = "demod"):
        super().__init__()
        n_up = int(round(math.log2(image_size))) - 2
        ch = [max(1, width * 4 // 2 ** i) for i in range(n_up + 1)]               # channels at 4, 8, ..., image_size
        self.const = nn.Parameter(torch.randn(1, ch[0], 4, 4))                     # learned constant input
        layers = [StyleLayer(w_dim, ch[0], ch[0], 4, mode)]
        for i in range(1, n_up + 1):
            res = 4 * 2 ** i
            layers += [StyleLayer(w_dim, ch[i - 1], ch[i], res, mode, up=True), StyleLayer(w_dim, ch[i], ch[i], res, mode)]
        self.layers = nn.ModuleList(layers)
        self.to_image = ToImage(w_dim, ch[-1], channels)
        self.num_ws = len(layers) + 1                                              # one w per layer, tRGB included
        self.resolutions = [4] + [4 * 2 ** (i // 2 + 1) for i in range(len(layers) - 1)] + [image_size]

    def forward(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode={noise_mode!r}; use one of {NOISE_MODES}")
        if ws.dim() != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(f"synthesis takes one w per layer, ws shaped (B, {self.num_ws}, w_dim); got "
                             f"{tuple(ws.shape)} (G.broadcast(w) repeats one w for every layer)")
        x = self.const.expand(ws.shape[0], -1, -1, -1)                             # (B, C0, 4, 4)
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i], noise_mode)
        return self.to_image(x, ws[:, -1])                                         # (B, channels, S, S)


class StyleGenerator(nn.Module):
    """A small style-based generator (notebooks/12_stylegan.ipynb): ``G(z) = g(f(z))``.

    - ``G.mapping(z) -> w``: :class:`MappingNetwork`, ``mapping_layers`` layers with learning-rate
      multiplier ``mapping_lr_mul`` (StyleGAN: 8 layers, 0.01);
    - ``G.synthesis(ws, noise_mode)``: :class:`SynthesisNetwork`, one w per layer, ``ws`` shaped
      ``(B, G.num_ws, w_dim)``; ``mode="demod"`` (StyleGAN2) or ``"adain"`` (StyleGAN);
    - ``G.w_avg``: the running mean of w over training (a buffer; ``w_avg_beta`` per training call, as
      StyleGAN's 0.995), the centre that :func:`truncate` pulls towards;
    - style mixing regularisation (Karras et al. 2019, Sec. 3.1): in training mode, with probability
      ``style_mixing``, a batch's codes switch from the w of its z to the w of a second random z at a
      random crossover layer (one per batch, as the reference code); off in eval mode.

    ``G(z, truncation_psi=1, noise_mode="random")``: truncation in W with ``psi`` (1 = none). ``image_size``
    is a power of two >= 8; the output is linear (no tanh). Everything random (noise, mixing) uses torch's
    global generator, so a training run resumes bit-exactly and ``models.sample`` seeds it.
    """

    truncation_space = "w"          # models.sample(..., truncation=psi) truncates in W for this generator
    has_noise_inputs = True         # models.sample seeds its noise

    def __init__(self, latent_dim: int = 100, w_dim: int = 128, channels: int = 1, image_size: int = 32,
                 width: int = 16, mapping_layers: int = 4, mapping_lr_mul: float = 0.01, mode: str = "demod",
                 style_mixing: float = 0.9, w_avg_beta: float = 0.995):
        super().__init__()
        if not isinstance(image_size, int) or image_size < 8 or image_size & (image_size - 1):
            raise ValueError(f"image_size={image_size!r}: the style generator grows from 4x4 by doubling, so it "
                             "makes 8, 16, 32, 64, ...; for Fashion-MNIST use 32 (load_dataset pads 28 to 32)")
        if mode not in STYLE_MODES:
            raise ValueError(f"mode={mode!r}; use one of {STYLE_MODES}")
        if not 0.0 <= style_mixing <= 1.0 or not 0.0 <= w_avg_beta < 1.0:
            raise ValueError(f"style_mixing={style_mixing!r} must be in [0, 1], w_avg_beta={w_avg_beta!r} in [0, 1)")
        self.config = {"kind": "StyleGenerator", "latent_dim": latent_dim, "w_dim": w_dim, "channels": channels,
                       "image_size": image_size, "width": width, "mapping_layers": mapping_layers,
                       "mapping_lr_mul": mapping_lr_mul, "mode": mode, "style_mixing": style_mixing,
                       "w_avg_beta": w_avg_beta}
        self.latent_dim, self.w_dim, self.channels, self.image_size = latent_dim, w_dim, channels, image_size
        self.style_mixing, self.w_avg_beta = style_mixing, w_avg_beta
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_layers, mapping_lr_mul)
        self.synthesis = SynthesisNetwork(w_dim, channels, image_size, width, mode)
        self.num_ws = self.synthesis.num_ws
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """``(B, w_dim) -> (B, num_ws, w_dim)``: the same w for every layer."""
        return w.unsqueeze(1).expand(-1, self.num_ws, -1)

    def mix(self, w1: torch.Tensor, w2: torch.Tensor, crossover: int) -> torch.Tensor:
        """Style mixing: ``ws`` whose layers ``0 .. crossover - 1`` read ``w1`` and layers ``crossover ..
        num_ws - 1`` read ``w2`` (coarse styles from w1, fine from w2). ``w1``, ``w2``: (B, w_dim)."""
        if not 0 <= crossover <= self.num_ws:
            raise ValueError(f"crossover={crossover}: a layer index in 0..{self.num_ws}")
        first = torch.arange(self.num_ws, device=w1.device)[None, :, None] < crossover   # (1, L, 1)
        return torch.where(first, self.broadcast(w1), self.broadcast(w2))

    @torch.no_grad()
    def estimate_w_avg(self, n: int = 10_000, seed: int = 0) -> torch.Tensor:
        """E_z[f(z)] estimated from ``n`` codes (seeded): the paper's definition of the centre of W, to
        compare with the running mean ``w_avg`` kept during training."""
        z = torch.randn(n, self.latent_dim, generator=torch.Generator().manual_seed(seed)).to(self.w_avg.device)
        with eval_mode(self):
            return self.mapping(z).mean(0)

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: str = "random") -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"StyleGenerator expects z shaped (B, {self.latent_dim}), got {tuple(z.shape)}")
        w = self.mapping(z)                                                         # (B, w_dim)
        if self.training:
            with torch.no_grad():                                                   # running mean of W
                self.w_avg.copy_(torch.lerp(w.detach().mean(0).to(self.w_avg.dtype), self.w_avg, self.w_avg_beta))
        ws = self.broadcast(w)                                                      # (B, num_ws, w_dim)
        if self.training and self.style_mixing > 0:
            # drawn at every step, mixing or not, so the random stream does not depend on the outcome
            w2 = self.mapping(torch.randn_like(z))
            mixes = torch.rand((), device=z.device) < self.style_mixing
            cut = torch.randint(1, self.num_ws, (), device=z.device)
            cut = torch.where(mixes, cut, torch.full_like(cut, self.num_ws))
            first = torch.arange(self.num_ws, device=z.device)[None, :, None] < cut
            ws = torch.where(first, ws, self.broadcast(w2))
        if not (isinstance(truncation_psi, (int, float)) and truncation_psi == 1):   # a number, or one per layer
            ws = truncate(ws, truncation_psi, self.w_avg)
        return self.synthesis(ws, noise_mode=noise_mode)


class StyleDiscriminator(nn.Module):
    """The discriminator paired with :class:`StyleGenerator` (notebook 12), after StyleGAN's (ProGAN's):
    equalised-learning-rate convolutions with leaky ReLU, no normalisation, two 3x3 convolutions and a
    2x2 average pooling per resolution, then at 4x4 the minibatch standard deviation
    (:class:`MinibatchStdDev`, group 4), a 3x3 convolution and two linear layers. Channels mirror the
    generator's. ``(B, channels, S, S) -> (B,)`` logits."""

    def __init__(self, channels: int = 1, image_size: int = 32, width: int = 16, mbstd_group: int = 4):
        super().__init__()
        if not isinstance(image_size, int) or image_size < 8 or image_size & (image_size - 1):
            raise ValueError(f"image_size={image_size!r}: a power of two >= 8 (as the style generator's)")
        self.config = {"kind": "StyleDiscriminator", "channels": channels, "image_size": image_size, "width": width,
                       "mbstd_group": mbstd_group}
        self.channels, self.image_size = channels, image_size
        n_down = int(round(math.log2(image_size))) - 2
        ch = [max(1, width * 4 // 2 ** i) for i in range(n_down + 1)][::-1]        # image_size ... 4x4
        self.from_image = EqualisedConv2d(channels, ch[0], 1)
        self.blocks = nn.ModuleList(nn.ModuleList([EqualisedConv2d(ch[i], ch[i], 3), EqualisedConv2d(ch[i], ch[i + 1], 3)])
                                    for i in range(n_down))
        self.mbstd = MinibatchStdDev(mbstd_group)
        self.conv = EqualisedConv2d(ch[-1] + 1, ch[-1], 3)
        self.fc = EqualisedLinear(ch[-1] * 16, ch[-1])
        self.out = EqualisedLinear(ch[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.channels, self.image_size, self.image_size):
            raise ValueError(f"StyleDiscriminator expects images shaped (B, {self.channels}, {self.image_size}, "
                             f"{self.image_size}), got {tuple(x.shape)}")
        x = _lrelu(self.from_image(x))
        for conv0, conv1 in self.blocks:
            x = _lrelu(conv1(_lrelu(conv0(x))))
            x = F.avg_pool2d(x, 2)                                                 # (B, C, S/2, S/2)
        x = _lrelu(self.conv(self.mbstd(x)))                                       # (B, C, 4, 4)
        return self.out(_lrelu(self.fc(x.flatten(1)))).view(-1)                   # (B,)


# ----------------------------------------------------------------------------- image-to-image (notebook 11)
TRANSLATOR_NORMS = ("batch", "instance", "none")


def _translator_norm(norm: str, ch: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(ch)
    if norm == "instance":                      # per image and channel; CycleGAN's choice at batch size 1
        return nn.InstanceNorm2d(ch, affine=True)
    return nn.Identity()


def _check_translator_args(who: str, norm: str, **positive) -> None:
    if norm not in TRANSLATOR_NORMS:
        raise ValueError(f"{who}: norm={norm!r}; use one of {TRANSLATOR_NORMS}")
    for name, v in positive.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{who}: {name}={v!r} must be a whole number >= 1")


class UNetGenerator(nn.Module):
    """pix2pix's generator (Isola et al. 2017; the U-Net of Ronneberger, Fischer, Brox 2015): image
    ``(B, in_channels, S, S)`` -> image ``(B, out_channels, S, S)`` in [-1, 1], taught in
    notebooks/11_image_to_image.ipynb.

    An encoder of ``depth`` stride-2 convolutions (4x4 kernels) takes the image down to
    ``S / 2**depth`` (1x1 by default, as the authors' ``unet_256``), a decoder of as many stride-2
    transposed convolutions brings it back, and **skip connections** concatenate each encoder
    layer's output to the decoder layer of the same resolution::

        x (in, S) -> e1 (w, S/2) -> e2 (2w, S/4) -> ... -> e_depth (<= 8w, S/2**depth)     encoder
        d_depth = up(e_depth);  d_k = up(cat[d_{k+1}, e_k]);  out = tanh(up(cat[d_2, e_1]))  decoder

    Channels double per level up to ``8 * width`` (the authors' cap). Encoder: LeakyReLU(0.2) before
    every conv but the first, ``norm`` after every conv but the first and the innermost; decoder:
    ReLU, transposed conv, ``norm`` (not on the output layer), tanh at the end. Through the skips, the
    decoder gets the input's fine detail (an edge's position) without squeezing it through the
    bottleneck; ``skips=False`` gives the plain encoder-decoder that pix2pix compares it with.

    **Noise**: pix2pix has no latent z; its only randomness is **dropout** (p = ``dropout``) in the
    first ``n_dropout`` decoder layers after the bottleneck (the authors' ``unet_256`` uses 3 of its 8;
    at 32x32 the default is 2 of 5). It is on in train mode and off in eval mode
    (:func:`eval_mode`, which this course evaluates in; pix2pix itself keeps dropout and batch
    statistics at test time, their Sec. 3.3).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, image_size: int = 32, width: int = 64,
                 depth: Optional[int] = None, norm: str = "batch", dropout: float = 0.5, n_dropout: int = 2,
                 skips: bool = True):
        super().__init__()
        _check_translator_args("UNetGenerator", norm, in_channels=in_channels, out_channels=out_channels,
                               image_size=image_size, width=width)
        if image_size & (image_size - 1) or image_size < 4:
            raise ValueError(f"UNetGenerator: image_size={image_size} must be a power of two >= 4 (32 or 64 here; "
                             "load_dataset(..., image_size=32) pads Fashion-MNIST's 28)")
        max_depth = image_size.bit_length() - 1                       # log2(S): down to 1x1
        depth = max_depth if depth is None else depth
        if not isinstance(depth, int) or isinstance(depth, bool) or not 1 <= depth <= max_depth:
            raise ValueError(f"UNetGenerator: depth={depth!r} must be 1..{max_depth} for image_size={image_size}")
        if not 0.0 <= dropout < 1.0 or not isinstance(n_dropout, int) or not 0 <= n_dropout < depth:
            raise ValueError(f"UNetGenerator: dropout={dropout!r} must be in [0, 1) and n_dropout={n_dropout!r} "
                             f"in 0..{depth - 1}")
        self.config = {"kind": "UNetGenerator", "in_channels": in_channels, "out_channels": out_channels,
                       "image_size": image_size, "width": width, "depth": depth, "norm": norm,
                       "dropout": dropout, "n_dropout": n_dropout, "skips": skips}
        self.in_channels, self.out_channels, self.image_size = in_channels, out_channels, image_size
        self.depth, self.skips = depth, skips
        ch = [min(width * 2 ** i, 8 * width) for i in range(depth)]   # encoder outputs e_1 .. e_depth
        self.down = nn.ModuleList()
        for i in range(depth):
            cin = in_channels if i == 0 else ch[i - 1]
            layers = [] if i == 0 else [nn.LeakyReLU(0.2)]             # not in place: e_(i-1) is also a skip
            layers.append(nn.Conv2d(cin, ch[i], 4, 2, 1, bias=norm != "batch"))   # (B, cin, s, s) -> (B, ch, s/2, s/2)
            if 0 < i < depth - 1:                                      # no norm on the first and innermost
                layers.append(_translator_norm(norm, ch[i]))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):                               # d_depth .. d_1: to the size of e_(i-1)
            innermost, outermost = i == depth - 1, i == 0
            cin = ch[i] if innermost or not skips else 2 * ch[i]       # cat[d_(i+1), e_i] when skipping
            cout = out_channels if outermost else ch[i - 1]
            layers = [nn.ReLU(), nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=outermost or norm != "batch")]
            if outermost:
                layers.append(nn.Tanh())
            else:
                layers.append(_translator_norm(norm, cout))
                if depth - 1 - i < n_dropout and dropout > 0:           # the first n_dropout decoder layers
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or tuple(x.shape[2:]) != (self.image_size,) * 2:
            raise ValueError(f"UNetGenerator expects images shaped (B, {self.in_channels}, {self.image_size}, "
                             f"{self.image_size}), got {tuple(x.shape)}")
        feats = []
        for layer in self.down:                                        # encoder: e_1 .. e_depth
            x = layer(x)
            feats.append(x)
        h = self.up[0](feats[-1])                                      # the bottleneck, upsampled
        for layer, skip in zip(self.up[1:], reversed(feats[:-1])):
            h = layer(torch.cat([h, skip], 1) if self.skips else h)   # (B, 2c, s, s): the skip joins here
        return h                                                       # (B, out_channels, S, S) in [-1, 1]


class PatchDiscriminator(nn.Module):
    """pix2pix's PatchGAN discriminator (Isola et al. 2017, Sec. 3.2.2; the authors' ``NLayerDiscriminator``),
    taught in notebooks/11_image_to_image.ipynb: image ``(B, in_channels, S, S)`` -> **a map of logits**
    ``(B, 1, h, w)``, one per overlapping patch of the input.

        conv4 s2 (width) -> LReLU -> [conv4 s2 -> norm -> LReLU] x (n_layers - 1)
        -> conv4 s1 -> norm -> LReLU -> conv4 s1 (1 channel)

    Channels double per stride-2 layer up to ``8 * width``. Each logit sees a square of
    :func:`receptive_field` pixels (16, 34, 70 for ``n_layers`` 1, 2, 3: the authors' default 3 gives
    their "70x70 PatchGAN"); the loss averages over all of them, so D judges local texture and
    sharpness, and the L1 term (pix2pix) or the cycle (CycleGAN) keeps the global layout. A
    conditional D (pix2pix) takes the input and the output concatenated: ``in_channels = A + B``.
    Flatten the map (``D(x).flatten()``) to use it with the losses of :mod:`gan_utils.losses`: each
    patch is then one "sample", and the mean over samples is the mean over patches and images.
    """

    def __init__(self, in_channels: int = 1, width: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        _check_translator_args("PatchDiscriminator", norm, in_channels=in_channels, width=width, n_layers=n_layers)
        self.config = {"kind": "PatchDiscriminator", "in_channels": in_channels, "width": width,
                       "n_layers": n_layers, "norm": norm}
        self.in_channels = in_channels
        layers = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]    # (B, w, S/2, S/2)
        ch = width
        for n in range(1, n_layers + 1):
            cout = min(width * 2 ** n, 8 * width)
            stride = 2 if n < n_layers else 1                          # the last of these keeps the size (-1)
            layers += [nn.Conv2d(ch, cout, 4, stride, 1, bias=norm != "batch"), _translator_norm(norm, cout),
                       nn.LeakyReLU(0.2, True)]
            ch = cout
        layers.append(nn.Conv2d(ch, 1, 4, 1, 1))                       # (B, 1, h, w): one logit per patch
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"PatchDiscriminator expects images shaped (B, {self.in_channels}, H, W), got "
                             f"{tuple(x.shape)} (a conditional D takes input and output concatenated on dim 1)")
        return self.net(x)


def receptive_field(module: nn.Module) -> int:
    """The side, in input pixels, of the square one output unit of ``module`` depends on: the
    receptive field of a chain of convolutions and poolings (a :class:`PatchDiscriminator`, a
    :class:`DCGANDiscriminator`), taken in the order the layers are registered. Backwards from one
    output unit, with ``j`` the product of the strides so far (the "jump" between neighbouring units
    of a layer, in input pixels)::

        r = 1;  for each layer (kernel k, stride s, dilation d), input side first:  r += (k - 1) * d * j;  j *= s

    Notebook 11 checks it against the gradient of one output logit with respect to the input. A
    module with transposed convolutions or skips (a generator) is refused: its units do not form one chain.
    """
    if any(isinstance(m, nn.ConvTranspose2d) for m in module.modules()) or isinstance(module, UNetGenerator):
        raise ValueError("receptive_field() takes a chain of convolutions (a discriminator); this module has "
                         "transposed convolutions or skip connections")
    r, j = 1, 1
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s = m.kernel_size, m.stride
            k = k[0] if isinstance(k, tuple) else k
            s = s[0] if isinstance(s, tuple) else s
            d = getattr(m, "dilation", 1)
            d = d[0] if isinstance(d, tuple) else d
            r += (k - 1) * d * j
            j *= s
    return r


MODEL_CLASSES = {c.__name__: c for c in (MLPGenerator, MLPDiscriminator, DCGANGenerator, DCGANDiscriminator,
                                         StyleGenerator, StyleDiscriminator, UNetGenerator, PatchDiscriminator)}


def build_model(config: dict) -> nn.Module:
    """Rebuild a model from its ``.config`` dict (as stored in checkpoints)."""
    cfg = dict(config)
    kind = cfg.pop("kind", None)
    if kind not in MODEL_CLASSES:
        raise ValueError(f"Unknown model kind {kind!r} in config; known: {sorted(MODEL_CLASSES)}")
    return MODEL_CLASSES[kind](**cfg)


class eval_mode:
    """``with eval_mode(model):`` the model in eval mode (BatchNorm uses its running statistics and
    does not update them, dropout is off) for the block, then back in the mode it was in. Several
    models may be given; ``None`` and plain callables are skipped."""

    def __init__(self, *models):
        self.models = [m for m in models if isinstance(m, nn.Module)]

    def __enter__(self):
        self.was = [m.training for m in self.models]
        for m in self.models:
            m.eval()
        return self

    def __exit__(self, *exc):
        for m, w in zip(self.models, self.was):
            m.train(w)


def _device_of(G) -> torch.device:
    p = next(iter(G.parameters()), None) if isinstance(G, nn.Module) else None
    return p.device if p is not None else torch.device("cpu")


# ----------------------------------------------------------------------------- paths in latent space
def _positions(t, like: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """``t`` as a tensor broadcastable against ``like``; and whether it was a scalar. A 1-D ``t`` holds
    ``n`` positions (-> (n, 1, ..., 1)); a ``t`` with as many dimensions as ``like``, e.g. ``(B, 1)``
    for codes ``(B, d)``, holds one position per code (perceptual path length draws one t per pair)."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.dim() == 0:
        return t, True
    if t.dim() == like.dim() and like.dim() > 1:
        return t, False                                          # (B, 1): one position per row
    if t.dim() != 1:
        raise ValueError(f"t must be a number, a 1-D tensor of positions or one position per code "
                         f"(shape (B, 1)), got shape {tuple(t.shape)}")
    return t.view(-1, *([1] * like.dim())), False  # (n,) -> (n, 1, ..., 1)


def _check_pair(z0: torch.Tensor, z1: torch.Tensor) -> None:
    if z0.shape != z1.shape:
        raise ValueError(f"z0 {tuple(z0.shape)} and z1 {tuple(z1.shape)} must have the same shape")
    if z0.dim() not in (1, 2):
        raise ValueError(f"latent codes must be (d,) or (B, d), got {tuple(z0.shape)}")


def lerp(z0: torch.Tensor, z1: torch.Tensor, t) -> torch.Tensor:
    """Linear interpolation ``(1 - t) z0 + t z1``. Codes ``(d,)`` or ``(B, d)``; ``t`` a number (result
    shaped like ``z0``), a 1-D tensor of ``n`` positions (``(n, d)`` or ``(n, B, d)``) or ``(B, 1)``, one
    position per code. Taught in notebook 04 (walking the latent space); W-space path length (notebook 12)."""
    _check_pair(z0, z1)
    t, _ = _positions(t, z0)
    return z0 + t * (z1 - z0)


def slerp(z0: torch.Tensor, z1: torch.Tensor, t, eps: float = 1e-6) -> torch.Tensor:
    """Spherical linear interpolation along the great circle from ``z0`` to ``z1`` (shapes as
    :func:`lerp`), taught in notebooks/04_dcgan.ipynb; Z-space path length in notebook 12:

        slerp(z0, z1, t) = sin((1 - t) W) / sin(W) z0 + sin(t W) / sin(W) z1,   cos W = <z0, z1> / (|z0| |z1|)

    The angle W between the codes is taken per pair (over the last dimension). Where the codes are
    (nearly) parallel, sin(W) ~ 0 and the formula is 0/0; there the arc *is* the straight line and
    :func:`lerp` is returned. Exactly opposite codes (W = pi) have no unique great circle; the
    formula also hits 0/0 there and lerp (through the origin) is returned too.
    """
    _check_pair(z0, z1)
    t, _ = _positions(t, z0)
    n0 = z0.norm(dim=-1, keepdim=True)                      # (..., 1)
    n1 = z1.norm(dim=-1, keepdim=True)
    cos = ((z0 * z1).sum(-1, keepdim=True) / (n0 * n1).clamp_min(1e-30)).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)                               # angle between the codes, (..., 1)
    sin = torch.sin(omega)
    degenerate = sin.abs() < eps                            # parallel or opposite: no unique arc
    safe_sin = torch.where(degenerate, torch.ones_like(sin), sin)
    w0 = torch.sin((1 - t) * omega) / safe_sin              # broadcasts (n, 1, ..., 1) with (..., 1)
    w1 = torch.sin(t * omega) / safe_sin
    out = w0 * z0 + w1 * z1
    return torch.where(degenerate, z0 + t * (z1 - z0), out)


#: the smallest truncation threshold: the redraws per coordinate grow as 1 / (0.8 t) (1 250 at t = 0.001)
MIN_TRUNCATION = 1e-3


def truncated_normal(n: int, dim: int, truncation: Optional[float] = None, seed: Optional[int] = 0) -> torch.Tensor:
    """``(n, dim)`` draws of z ~ N(0, I) with every coordinate outside ``[-truncation, truncation]``
    redrawn until it falls inside: the truncation trick of BigGAN (Brock, Donahue, Simonyan 2019),
    taught in notebook 09. It does **not** move codes to where G saw the most training codes: in
    ``dim`` dimensions those lie on a thin shell of radius about sqrt(dim) (||z||^2 is a sum of ``dim``
    squares), and truncation pulls codes *inside* it, to a typical norm sqrt(dim * v(t)) with v(t)
    the per-coordinate variance (:func:`truncated_normal_variance`): 5.4 for dim = 100, t = 1, where
    a training code is that short with probability ~3e-13. Whether that buys fidelity is a property of
    the generator (notebook 09 measures it). ``truncation=None`` (or inf) is plain N(0, I). Drawn on the
    CPU from a generator seeded with ``seed`` (None: the global RNG)."""
    if not isinstance(n, int) or n < 1 or int(dim) != dim or dim < 1:
        raise ValueError(f"n={n!r} and dim={dim!r} must be whole numbers >= 1")
    dim = int(dim)
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    z = torch.randn(n, dim, generator=gen)
    if truncation is None or (isinstance(truncation, (int, float)) and math.isinf(truncation) and truncation > 0):
        return z
    if isinstance(truncation, bool) or not isinstance(truncation, (int, float)) or not truncation >= MIN_TRUNCATION:
        raise ConfigError(f"truncation={truncation!r} must be a number >= {MIN_TRUNCATION} (None: no truncation): a "
                          f"coordinate falls in [-t, t] with probability about 0.8 t, so a smaller t would redraw "
                          "almost without end")
    while True:
        outside = z.abs() > truncation                     # |z_i| > t: redraw those coordinates only
        count = int(outside.sum())
        if count == 0:
            return z
        z[outside] = torch.randn(count, generator=gen)


def truncated_normal_variance(truncation: Optional[float]) -> float:
    """Variance of one coordinate of :func:`truncated_normal`: N(0, 1) conditioned on |z| <= t,

        v(t) = 1 - 2 t phi(t) / (2 Phi(t) - 1),      phi, Phi: the standard normal density and CDF

    (1 for ``None`` or inf). A code of ``dim`` such coordinates has E||z||^2 = dim * v(t)."""
    if truncation is None or math.isinf(truncation):
        return 1.0
    t = float(truncation)
    if not t > 0:
        raise ValueError(f"truncation={truncation!r} must be > 0 (None: no truncation)")
    phi = math.exp(-t * t / 2) / math.sqrt(2 * math.pi)         # phi(t)
    mass = math.erf(t / math.sqrt(2))                            # 2 Phi(t) - 1 = P(|z| <= t)
    return 1.0 - 2.0 * t * phi / mass


def sample_labels(G, y, n: int) -> Optional[torch.Tensor]:
    """The labels :func:`sample_batches` uses: ``y`` as an (n,) tensor (an int or a list of classes is
    repeated cyclically), every class in turn for a conditional ``G`` without ``y``, None otherwise."""
    k = getattr(G, "num_classes", None)
    if y is None:
        return torch.arange(n) % k if k is not None else None     # 0, 1, ..., K-1, 0, 1, ...: balanced classes
    if k is None:
        raise ValueError("this generator is unconditional (no num_classes): it takes no class labels")
    if isinstance(y, torch.Tensor) and y.is_floating_point() and y.dim() == 2:
        return y                                                   # (n, K) class weights, checked by G
    if isinstance(y, int) and not isinstance(y, bool):
        y = [y]
    y = torch.as_tensor(y) if not isinstance(y, torch.Tensor) else y
    if y.dim() != 1 or len(y) == 0:
        raise ValueError(f"class labels for sampling: an int, a list or a (n,) tensor, got shape {tuple(y.shape)}")
    if len(y) != n:
        y = y.repeat(math.ceil(n / len(y)))[:n]                     # the given classes in turn
    return y


@torch.no_grad()
def sample_batches(G, n: int, seed: Optional[int] = 0, batch_size: int = 500, z=None, latent_dim=None,
                   progress: bool = False, y=None, truncation: Optional[float] = None):
    """Yield ``n`` samples of the generator ``G`` in batches of ``batch_size`` (float32, on G's
    device), with G in eval mode. The latent codes are ``z`` if given, else drawn all at once on
    the CPU from a generator seeded with ``seed`` (None: the global RNG), so the samples do not
    depend on ``batch_size``; ``truncation`` draws them from the truncated normal of
    :func:`truncated_normal`. ``G`` may be any callable ``z -> images`` with ``latent_dim`` given.

    A class-conditional ``G`` (``G.num_classes``, notebook 09) gets the labels ``y``: an int (every
    sample of that class), a list of classes (taken in turn), a tensor of one class per sample, or
    None: every class in turn (0, 1, ..., K-1, 0, ...), so the samples are balanced over classes.

    A generator that truncates in W (``G.truncation_space == "w"``: :class:`StyleGenerator`, notebook 12)
    gets ``truncation`` as its ``truncation_psi`` (1 = none) and plain N(0, I) codes. A generator with
    noise inputs (``G.has_noise_inputs``) draws its noise from torch's generator seeded by ``seed`` and the
    batch's position, restored afterwards: the same samples for the same ``seed`` and ``batch_size``, and
    the caller's random stream untouched (a training run's grids do not change its course).
    """
    from tqdm.auto import tqdm

    in_w = getattr(G, "truncation_space", "z") == "w"
    if z is None:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n={n!r}: ask for at least one sample")
        dim = latent_dim if latent_dim is not None else G.latent_dim
        z = truncated_normal(n, dim, None if in_w else truncation, seed)
    labels = sample_labels(G, y, len(z))
    device = _device_of(G)
    kwargs = {"truncation_psi": float(truncation)} if in_w and truncation is not None else {}
    seeded = seed is not None and getattr(G, "has_noise_inputs", False)
    with eval_mode(G):
        for i in tqdm(range(0, len(z), batch_size), desc="sampling", unit="batch", disable=not progress):
            zb = z[i:i + batch_size].to(device)
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else [], enabled=seeded):
                if seeded:
                    torch.manual_seed(int(seed) * 1_000_003 + i)       # this batch's noise
                x = G(zb, **kwargs) if labels is None else G(zb, labels[i:i + batch_size].to(device))
            yield x.float()


def sample(G, n: int = 64, seed: Optional[int] = 0, batch_size: int = 500, z=None, progress: bool = False,
           y=None, truncation: Optional[float] = None) -> torch.Tensor:
    """``n`` samples ``(n, C, H, W)`` of ``G`` in eval mode, float32 on the CPU (see
    :func:`sample_batches`; ``y``: the classes of a conditional G): grids, evaluation, the CLI's
    ``sample`` all draw through here."""
    return torch.cat([x.cpu() for x in sample_batches(G, n, seed, batch_size, z=z, progress=progress, y=y,
                                                      truncation=truncation)])


@torch.no_grad()
def recompute_batchnorm_stats(G: nn.Module, latent_dim: int | None = None, n_batches: int = 20,
                              batch_size: int = 256, seed: int = 0, truncation: Optional[float] = None) -> nn.Module:
    """A copy of ``G`` whose BatchNorm running statistics are re-estimated from **its own**
    activations: every BatchNorm's statistics are reset and, in train mode (batch statistics, no
    gradients), ``n_batches`` batches of z ~ N(0, I) from a ``seed``-ed CPU generator are passed
    through (a class-conditional G gets every class in turn); with ``momentum=None`` the running mean
    and variance become the plain average over those batches. Returned in eval mode; ``G`` itself is
    not changed. Taught in notebooks/04_dcgan.ipynb ("The EMA generator").

    Why: the EMA generator's *weights* are an average, but :class:`gan_utils.train.EMA` copies the
    running statistics from the raw generator, so they estimate the raw G's activations, not those
    of the averaged weights. This is the usual remedy (a G without BatchNorm is the other);
    :func:`gan_utils.experiment.evaluate` applies it before scoring an EMA generator.

    ``truncation``: the codes are drawn from :func:`truncated_normal` with that threshold instead, so the
    statistics fit the activations of truncated codes (notebook 09 tests whether that rescues truncation).
    """
    ld = int(latent_dim if latent_dim is not None else G.latent_dim)
    out = copy.deepcopy(G)
    bns = [m for m in out.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return out.eval()
    device = _device_of(out)
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None                                       # cumulative moving average = plain mean
    out.train()
    g = torch.Generator().manual_seed(seed)
    labels = sample_labels(out, None, batch_size)               # None for an unconditional G
    for i in range(n_batches):
        if truncation is None:
            z = torch.randn(batch_size, ld, generator=g).to(device)
        else:
            z = truncated_normal(batch_size, ld, truncation, seed=seed * 1_000_003 + i).to(device)
        out(z) if labels is None else out(z, labels.to(device))
    for m, mom in zip(bns, saved):
        m.momentum = mom
    return out.eval()


class MinibatchStdDev(nn.Module):
    """The minibatch standard deviation layer of ProGAN (Karras et al. 2018, section 3) used by
    StyleGAN's discriminator: a D that sees one statistic of the *batch* can tell a collapsed batch
    (all samples alike) from a varied one, Salimans et al. 2016's minibatch discrimination made
    parameter-free. Taught in notebooks 12 (StyleGAN) and the Salimans notebook.

    The batch is split into groups of ``group_size`` samples (sample i joins group i mod (B / G), as
    in the reference code's reshape); per group, the population standard deviation of every feature
    and pixel over the group's samples, ``sqrt(var + 1e-8)``, is averaged over channels and pixels to
    one number, which is appended to each of the group's samples as one constant feature map:
    ``(B, C, H, W) -> (B, C + 1, H, W)``. A batch smaller than ``group_size`` is one group.
    """

    def __init__(self, group_size: int = 4):
        super().__init__()
        if not isinstance(group_size, int) or group_size < 2:
            raise ValueError(f"group_size={group_size!r} must be a whole number >= 2 (a standard deviation "
                             "needs two samples)")
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        g = min(self.group_size, B)
        if B % g:
            raise ValueError(f"MinibatchStdDev(group_size={self.group_size}): the batch of {B} does not split "
                             f"into groups of {g}; use a batch size that is a multiple of {g}")
        y = x if x.dtype == torch.float64 else x.float()            # fp16/bf16 under autocast: fp32 statistics
        y = y.reshape(g, B // g, C, H, W)                           # (G, M, C, H, W): sample g*M + m
        y = y - y.mean(dim=0)                                       # deviation from the group mean
        y = (y.square().mean(dim=0) + 1e-8).sqrt()                  # (M, C, H, W): population std
        y = y.mean(dim=(1, 2, 3))                                   # (M,): one number per group
        y = y.reshape(-1, 1, 1, 1).repeat(g, 1, H, W).to(x.dtype)   # (B, 1, H, W): sample g*M + m gets y[m]
        return torch.cat([x, y], dim=1)                             # (B, C + 1, H, W)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def layer_table(model: nn.Module, input_shape) -> list[tuple[str, tuple, int]]:
    """(layer, output shape, parameters) for each leaf layer, by running one dummy batch
    (notebook 04's shape/parameter table)."""
    rows = []
    hooks = []
    for name, m in model.named_modules():
        if len(list(m.children())) == 0 and name:
            def hook(mod, inp, out, name=name):
                rows.append((f"{name} {type(mod).__name__}", tuple(out.shape[1:]),
                             sum(p.numel() for p in mod.parameters())))
            hooks.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad(), eval_mode(model):
            x = torch.zeros(2, *input_shape)
            model(x) if getattr(model, "num_classes", None) is None else model(x, torch.zeros(2, dtype=torch.long))
    finally:
        for h in hooks:
            h.remove()
    return rows
