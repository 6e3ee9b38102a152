"""Image-to-image translation (notebook 11): the U-Net and the PatchGAN, the L1 terms, the image pool,
paired:/unpaired: folders, pix2pix and CycleGAN as tasks of the loop (bit-exact resume), and the lesson's
edge detector. The CLI's train --model pix2pix|cyclegan and translate are tested in tests/test_cli.py."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_utils import losses
from gan_utils.checkpoint import load_checkpoint
from gan_utils.config import TranslationConfig, load_translation_config
from gan_utils.data import ImageDataset, ImageFolderError, TwoDomainData, load_dataset
from gan_utils.lessons import image_to_image as i2i
from gan_utils.loop import run_loop
from gan_utils.models import PatchDiscriminator, UNetGenerator, eval_mode, receptive_field
from gan_utils.runtime import ConfigError
from gan_utils.train import ImagePool
from gan_utils.translation import CycleGANTask, Pix2PixTask, build_translation, load_translator


# ---------------------------------------------------------------- the models
def _measured_receptive_field(D: PatchDiscriminator, size: int = 160) -> int:
    """The side of the input square that one output logit (the centre one) depends on, from its gradient."""
    x = torch.randn(1, D.in_channels, size, size, requires_grad=True)
    with eval_mode(D):                                   # BatchNorm in train mode would couple every pixel
        out = D(x)
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    nz = x.grad[0].abs().sum(0) > 0
    rows, cols = nz.any(1).nonzero().view(-1), nz.any(0).nonzero().view(-1)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize("n_layers, expected", [(1, 16), (2, 34), (3, 70)])
def test_receptive_field_is_the_measured_one(n_layers, expected):
    # guards against: a receptive-field formula that forgets the jump (product of strides) or the stride-1 layers
    D = PatchDiscriminator(2, width=4, n_layers=n_layers)
    assert receptive_field(D) == expected                # 70: pix2pix's "70x70 PatchGAN" at n_layers = 3
    assert _measured_receptive_field(D) == (expected, expected)


def test_receptive_field_refuses_a_generator():
    with pytest.raises(ValueError, match="chain of convolutions"):
        receptive_field(UNetGenerator(1, 1, 16, 4))


def test_patch_discriminator_returns_a_map_of_logits():
    assert PatchDiscriminator(3, 4, 1)(torch.zeros(2, 3, 32, 32)).shape == (2, 1, 14, 14)
    assert PatchDiscriminator(3, 4, 2)(torch.zeros(2, 3, 32, 32)).shape == (2, 1, 6, 6)
    with pytest.raises(ValueError, match="concatenated"):
        PatchDiscriminator(2, 4, 1)(torch.zeros(2, 1, 32, 32))


def test_unet_shapes_and_skip_wiring():
    # guards against: a skip joined at the wrong resolution or from the wrong encoder layer
    G = UNetGenerator(1, 3, image_size=32, width=4, dropout=0.0)
    assert G.depth == 5 and G(torch.randn(2, 1, 32, 32)).shape == (2, 3, 32, 32)
    downs, ups = [], []
    hooks = [m.register_forward_hook(lambda m, i, o: downs.append(o)) for m in G.down]
    hooks += [m.register_forward_hook(lambda m, i, o: ups.append((i[0], o))) for m in G.up]
    with torch.no_grad(), eval_mode(G):
        y = G(torch.randn(2, 1, 32, 32))
    for h in hooks:
        h.remove()
    assert [tuple(d.shape[1:]) for d in downs] == [(4, 16, 16), (8, 8, 8), (16, 4, 4), (32, 2, 2), (32, 1, 1)]
    assert torch.equal(ups[0][0], downs[-1])                             # the bottleneck feeds the decoder
    for k in range(1, len(ups)):                                         # decoder k gets cat[previous, e_(depth-k)]
        prev_out, skip = ups[k - 1][1], downs[-1 - k]
        assert torch.equal(ups[k][0], torch.cat([prev_out, skip], 1))
    assert torch.equal(ups[-1][1], y) and y.abs().max() <= 1
    plain = UNetGenerator(1, 3, image_size=32, width=4, skips=False)
    assert plain.up[-1][1].in_channels == 4 and G.up[-1][1].in_channels == 8   # no skip: half the channels


def test_unet_dropout_is_its_noise_in_train_mode_only():
    torch.manual_seed(0)
    G = UNetGenerator(1, 1, image_size=16, width=4, n_dropout=2)
    x = torch.randn(3, 1, 16, 16)
    assert not torch.equal(G(x), G(x))                                   # train mode: dropout draws differ
    with torch.no_grad(), eval_mode(G):
        assert torch.equal(G(x), G(x))
    with pytest.raises(ValueError, match="power of two"):
        UNetGenerator(1, 1, image_size=28)
    with pytest.raises(ValueError, match="expects images shaped"):
        G(torch.randn(1, 1, 32, 32))


# ---------------------------------------------------------------- the L1 terms
def test_cycle_identity_and_l1_losses_on_hand_made_tensors():
    real = torch.zeros(1, 1, 2, 2)
    rec = torch.tensor([[[[1.0, -1.0], [0.0, 2.0]]]])                    # |.| = 1, 1, 0, 2: mean 1
    assert losses.cycle_consistency_loss(real, rec).item() == 1.0
    assert losses.identity_loss(real, rec).item() == 1.0
    assert losses.l1_loss(rec, real).item() == 1.0
    assert losses.cycle_consistency_loss(rec, rec).item() == 0.0
    two = torch.stack([real[0], rec[0]])                                 # batch of 2: mean over samples too
    assert losses.cycle_consistency_loss(torch.zeros_like(two), two).item() == 0.5
    # guards against: (B, 1, H, W) against (B, H, W) silently broadcasting to (B, B, H, W)
    with pytest.raises(ValueError, match="same shape"):
        losses.cycle_consistency_loss(torch.zeros(2, 1, 4, 4), torch.zeros(2, 4, 4))


# ---------------------------------------------------------------- the image pool
def test_image_pool_fills_first_then_returns_what_it_got():
    pool = ImagePool(5)
    a = torch.arange(3.0).view(3, 1, 1, 1)
    b = torch.arange(3.0, 6.0).view(3, 1, 1, 1)
    assert torch.equal(pool(a), a) and pool.count == 3
    out = pool(b)                                                        # 2 more fill it; the third may swap
    assert torch.equal(out[:2], b[:2]) and pool.count == 5
    assert out[2].item() in {5.0, 0.0, 1.0, 2.0, 3.0, 4.0}


def test_image_pool_swaps_half_of_the_images_once_full():
    # guards against: a pool that always (or never) swaps, or hands out images it never stored
    torch.manual_seed(0)
    pool = ImagePool(50)
    pool(torch.full((50, 1, 1, 1), -1.0))                                # filled with -1
    swapped, n = 0, 0
    for step in range(200):                                              # 200 batches of 20 new images
        new = (step * 100 + torch.arange(20.0)).view(20, 1, 1, 1)       # every image a value of its own
        out = pool(new)
        old = out.view(-1) != new.view(-1)
        swapped += int(old.sum())
        n += 20
        assert bool((out.view(-1)[old] < new.view(-1)[old]).all())      # handed out: an image stored earlier
    # binomial(4000, 1/2): std 31.6, so 5 std is 158
    assert abs(swapped - n / 2) < 5 * (n / 4) ** 0.5, swapped
    assert pool.count == 50


def test_image_pool_of_size_zero_returns_its_input():
    pool = ImagePool(0)
    x = torch.randn(4, 1, 3, 3, requires_grad=True)
    out = pool(x)
    assert torch.equal(out, x) and not out.requires_grad and pool.state_dict()["images"] is None
    with pytest.raises(ConfigError, match="whole number >= 0"):
        ImagePool(-1)


def test_image_pool_state_dict_continues_bit_for_bit():
    torch.manual_seed(1)
    pool = ImagePool(6)
    for _ in range(3):
        pool(torch.randn(4, 1, 2, 2))
    x = torch.randn(4, 1, 2, 2)
    state, rng = pool.state_dict(), torch.get_rng_state()
    a = pool(x)
    other = ImagePool(6)
    other.load_state_dict(state)
    torch.set_rng_state(rng)
    assert torch.equal(other(x), a)


# ---------------------------------------------------------------- paired: and unpaired: folders
def _write(path: Path, value: int, size: int = 8, mode: str = "L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((size, size) if mode == "L" else (size, size, 3), value, dtype=np.uint8)
    Image.fromarray(arr).save(path)


def _pairs(root: Path, n: int = 6, size: int = 8):
    for i in range(n):
        _write(root / "A" / f"{i:02d}.png", 10 * i, size)
        _write(root / "B" / f"{i:02d}.jpg" if i % 2 else root / "B" / f"{i:02d}.png", 10 * i + 5, size)
    return root


def test_paired_folders_load_as_pairs_in_one_order(tmp_path):
    root = _pairs(tmp_path / "p")
    d = load_dataset(f"paired:{root}", channels=1)
    assert isinstance(d, TwoDomainData) and d.paired and len(d.A) == len(d.B) == 6 and d.image_size == 8
    assert d.keys == tuple(f"{i:02d}" for i in range(6))
    a, b = d.A.images[:, 0, 0, 0].int(), d.B.images[:, 0, 0, 0].int()
    assert torch.all((b - a - 5).abs() <= 2), "B must be put in A's order (JPEG rounding aside)"
    u = load_dataset(f"unpaired:{root}", image_size=16, channels=3)
    assert not u.paired and u.A.images.shape == (6, 3, 16, 16) and u.B.images.shape == (6, 3, 16, 16)


def test_unpaired_sides_may_have_other_sizes_and_counts(tmp_path):
    root = tmp_path / "u"
    for i in range(3):
        _write(root / "A" / f"a{i}.png", 0, 8)
    for i in range(5):
        _write(root / "B" / f"b{i}.png", 200, 12)
    with pytest.raises(ImageFolderError, match="pass image_size"):
        load_dataset(f"unpaired:{root}", channels=1)
    d = load_dataset(f"unpaired:{root}", image_size=8, channels=1)
    assert (len(d.A), len(d.B)) == (3, 5)


@pytest.mark.parametrize("case, needle", [
    ("not_a_folder", "does not exist"),
    ("no_A", "has no A/ sub-folder"),
    ("no_B", "has no B/ sub-folder"),
    ("empty_B", "B holds no .png"),
    ("duplicate", "several files named '00'"),
    ("unpaired_names", "only in A/ (7): x00, x01, x02, x03, x04 and 2 more"),
    ("unreadable", "cannot be read"),
])
def test_every_folder_error_names_the_folder_and_the_fix(tmp_path, case, needle):
    # guards against: a bare traceback (or a silent skip) for each way a pair of folders can be wrong
    root = _pairs(tmp_path / "p", n=2)
    if case == "not_a_folder":
        root = tmp_path / "nope"
    elif case == "no_A":
        for f in (root / "A").iterdir():
            f.unlink()
        (root / "A").rmdir()
    elif case == "no_B":
        for f in (root / "B").iterdir():
            f.unlink()
        (root / "B").rmdir()
    elif case == "empty_B":
        for f in (root / "B").iterdir():
            f.unlink()
    elif case == "duplicate":
        _write(root / "A" / "00.jpg", 3)
    elif case == "unpaired_names":
        for i in range(7):
            _write(root / "A" / f"x{i:02d}.png", 3)
    elif case == "unreadable":
        (root / "A" / "01.png").write_bytes(b"not a png")
    with pytest.raises(ImageFolderError) as info:
        load_dataset(f"paired:{root}", channels=1)
    msg = str(info.value)
    assert needle in msg, msg
    assert str(root.resolve()) in msg or str(root) in msg
    if case == "unpaired_names":
        assert "unpaired:" in msg                                        # the fix: CycleGAN's layout


def test_paired_and_unpaired_have_no_test_split(tmp_path):
    with pytest.raises(ConfigError, match="no test split"):
        load_dataset(f"paired:{_pairs(tmp_path / 'p')}", train=False)


# ---------------------------------------------------------------- the config
def test_translation_config_holds_the_authors_defaults_and_refuses_typos():
    # guards against: a default drifting from the authors' code without anyone deciding it
    p, c = TranslationConfig(model="pix2pix"), TranslationConfig(model="cyclegan")
    assert (p.lambda_l1, p.gan_loss, p.gan_weight, p.pool, p.lr, p.betas) == (100.0, "bce-ns", 1.0, 0, 2e-4, (0.5, 0.999))
    assert (c.lambda_cycle, c.lambda_identity, c.gan_loss, c.gan_weight, c.pool) == (10.0, 0.5, "lsgan", 2.0, 50)
    with pytest.raises(ConfigError, match="did you mean 'lambda_l1'"):
        TranslationConfig.from_options({"lamda_l1": 10})
    with pytest.raises(ConfigError, match="must be a number"):
        TranslationConfig.from_options({"lambda_cycle": "10"})
    with pytest.raises(ConfigError, match="one of bce-ns, lsgan, hinge"):
        TranslationConfig(loss="wgan-gp")
    with pytest.raises(ConfigError, match="pix2pix learns from pairs"):
        TranslationConfig(model="pix2pix", dataset="unpaired:/x")
    with pytest.raises(ConfigError, match="power of two"):
        TranslationConfig(image_size=28)
    assert load_translation_config({"model": "cyclegan"}, defaults={"ckpt_every": 500}, steps=7).steps == 7


# ---------------------------------------------------------------- the tasks
def _toy(n: int = 24, size: int = 16, paired: bool = True) -> TwoDomainData:
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (n, 1, size, size), generator=g, dtype=torch.uint8)
    b = 255 - a
    y = torch.zeros(n, dtype=torch.long)
    return TwoDomainData(ImageDataset(a, y, "toy A"), ImageDataset(b, y, "toy B"), paired, "toy")


def _cfg(model, **kw):
    return TranslationConfig(model=model, image_size=16, channels=1, width=4, batch_size=4, **kw)


def _state(task):
    out = {f"{k}.{n}": v.clone() for k, m in task.modules().items() for n, v in m.state_dict().items()}
    for k, o in task.optimizers().items():
        for i, st in o.state_dict()["state"].items():
            out.update({f"opt.{k}.{i}.{n}": v.clone() for n, v in st.items() if torch.is_tensor(v)})
    for k, v in task.extra_state().items():
        if v.get("images") is not None:
            out[f"extra.{k}"] = v["images"].clone()
    out["rng"] = torch.get_rng_state()
    return out


def test_cyclegan_resume_is_bit_exact(tmp_path):
    # guards against: a resume that forgets one of the two generators, the two discriminators, their optimisers,
    # the image pools or the RNG the pools draw from
    cfg = _cfg("cyclegan", pool_size=6)                                  # full after 2 steps: swaps happen
    whole = CycleGANTask(cfg, _toy(paired=False))
    r1 = run_loop(whole, 6, out_dir=tmp_path / "whole", log_every=1, progress=False)
    first = CycleGANTask(cfg, _toy(paired=False))
    run_loop(first, 3, out_dir=tmp_path / "split", log_every=1, progress=False)
    torch.manual_seed(123)                                               # a new process: other RNG state
    second = CycleGANTask(cfg, _toy(paired=False))
    second.G_AB.apply(lambda m: torch.nn.init.normal_(m.weight) if isinstance(m, torch.nn.Conv2d) else None)
    r2 = run_loop(second, 6, out_dir=tmp_path / "split", resume=True, log_every=1, progress=False)
    a, b = _state(whole), _state(second)
    assert a.keys() == b.keys() and {k for k in a if k.startswith("extra.")} == {"extra.pool_A", "extra.pool_B"}
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    assert r1.history["loss_G"] == r2.history["loss_G"] and r2.history["step"] == list(range(1, 7))
    ck = torch.load(tmp_path / "split" / "checkpoint_latest.pt", weights_only=True)
    assert ck["kind"] == "cyclegan" and set(ck["modules"]) == {"G_AB", "G_BA", "D_A", "D_B"}
    assert set(ck["optimizers"]) == {"G", "D"} and ck["extra"]["pool_A"]["count"] == 6


def test_pix2pix_steps_and_its_ablations():
    data = _toy()
    t = Pix2PixTask(_cfg("pix2pix"), data)
    out = t.step(0)
    assert {"loss_D", "loss_G", "loss_G_gan", "L1"} <= set(out) and all(torch.isfinite(v) for v in out.values())
    l1_only = Pix2PixTask(_cfg("pix2pix", lambda_gan=0.0), data)
    d0 = {k: v.clone() for k, v in l1_only.D.state_dict().items()}
    out = l1_only.step(0)
    assert "loss_D" not in out and all(torch.equal(d0[k], v) for k, v in l1_only.D.state_dict().items())
    assert torch.allclose(out["loss_G"], 100 * out["L1"])
    with pytest.raises(ValueError, match="needs paired data"):
        Pix2PixTask(_cfg("pix2pix"), _toy(paired=False))


def test_cyclegan_ablation_arms_train_what_they_say():
    data = _toy(paired=False)
    full = CycleGANTask(_cfg("cyclegan"), data).step(0)
    assert {"loss_D_A", "loss_D_B", "loss_G_gan", "cycle", "identity"} <= set(full)
    gan_alone = CycleGANTask(_cfg("cyclegan", lambda_cycle=0.0), data).step(0)
    assert "cycle" not in gan_alone and "identity" not in gan_alone     # identity scales with lambda_cycle
    cycle_alone = CycleGANTask(_cfg("cyclegan", lambda_gan=0.0), data).step(0)
    assert "loss_D_A" not in cycle_alone and "loss_G_gan" not in cycle_alone
    torch.manual_seed(0)
    fwd = CycleGANTask(_cfg("cyclegan", cycles="forward", lambda_identity=0.0), data)
    a = fwd.loader_a.next_batch()
    fwd.loader_a.load_state_dict({"epoch": 0, "position": 0, "seed": fwd.config.seed})
    with torch.no_grad(), eval_mode(*fwd.modules().values()):
        want = losses.cycle_consistency_loss(a, fwd.G_BA(fwd.G_AB(a)))
    for m in fwd.modules().values():
        m.eval()                                                         # the same forward pass as above
    out = fwd.step(0)
    assert torch.allclose(out["cycle"], want)                            # the forward cycle only


def test_load_translator_and_its_errors(tmp_path):
    t = CycleGANTask(_cfg("cyclegan"), _toy(paired=False))
    run_loop(t, 1, out_dir=tmp_path, progress=False)
    G = load_translator(tmp_path, "BtoA")
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    with torch.no_grad(), eval_mode(t.G_BA):
        assert torch.equal(G(x), t.G_BA(x)) and not G.training
    p = Pix2PixTask(_cfg("pix2pix"), _toy())
    run_loop(p, 1, out_dir=tmp_path / "p", progress=False)
    from gan_utils.checkpoint import CheckpointError
    with pytest.raises(CheckpointError, match="translates A to B only"):
        load_translator(tmp_path / "p", "BtoA")


# ---------------------------------------------------------------- the lesson's data
def test_sobel_edges_are_deterministic_binary_outlines():
    x = torch.zeros(1, 1, 12, 12, dtype=torch.uint8)
    x[..., 3:9, 3:9] = 255                                               # a bright square
    m = i2i.sobel_magnitude(x)
    assert m.max() <= 1 and m[0, 0, 6, 6] == 0 and m[0, 0, 0, 0] == 0    # flat inside and outside
    e = i2i.sobel_edges(x)
    assert set(e.unique().tolist()) <= {0, 255} and e.dtype == torch.uint8
    ring = torch.zeros(12, 12, dtype=torch.bool)
    ring[2:10, 2:10] = True
    ring[4:8, 4:8] = False                                               # 2 px on each side of the square's border
    assert torch.equal(e[0, 0] > 0, ring)
    assert torch.equal(i2i.sobel_edges(x), e)
    with pytest.raises(ValueError, match="grey uint8"):
        i2i.sobel_edges(x.float())


def test_edge_task_splits_the_training_set_into_disjoint_halves():
    # guards against: a CycleGAN "unpaired" split in which training pairs survive
    t = i2i.edge_task(n_train=200, n_test=20)
    assert t.paired.paired and not t.unpaired.paired and t.test.paired
    half_a, half_b = t.halves
    assert len(half_a) == len(half_b) == 100 and not set(half_a.tolist()) & set(half_b.tolist())
    assert torch.equal(t.unpaired.A.images, t.paired.A.images[half_a])    # edges of half 1 ...
    assert torch.equal(t.unpaired.B.images, t.paired.B.images[half_b])    # ... garments of half 2
    assert torch.equal(t.paired.A.images, i2i.sobel_edges(t.paired.B.images))
    assert torch.equal(t.test.A.images, i2i.sobel_edges(t.test.B.images))
