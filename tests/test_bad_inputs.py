"""The bad-input probe, kept: one test per cause of the 54 broken or half-kept promises it found.

Each test is named after the promise. CLI tests call ``gan_utils.cli.main`` (exit status 2 and one
line for a user's mistake, never a traceback); signal tests run the CLI in a subprocess.
"""
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_utils import runtime
from gan_utils.checkpoint import LOCK, CheckpointError, load_checkpoint, load_generator, save_checkpoint
from gan_utils.cli import main
from gan_utils.data import DataUnavailableError, InMemoryLoader, load_dataset, resize_images, synthetic_images
from gan_utils.metrics import fid, frechet_distance
from gan_utils.models import DCGANDiscriminator, DCGANGenerator
from gan_utils.train import NonFiniteLossError, TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
SYNTH = ["--model", "dcgan", "--dataset", "synthetic", "--image-size", "32", "--width", "8", "--batch-size", "16"]
FMNIST = Path("/usr/share/datasets/fashion-mnist")


def _cli(args, capsys):
    code = main([str(a) for a in args])
    err = capsys.readouterr().err.strip()
    return code, err


def _one_clear_line(code, err, *needles):
    assert code == 2, f"exit {code}: {err}"
    assert "Traceback" not in err and err.startswith("error: ")
    for n in needles:
        assert n.lower() in err.lower(), f"{n!r} not in {err!r}"


# ---------------------------------------------------------------- 1. one clear line, exit 2
@pytest.mark.parametrize("flags,needle", [
    (["--batch-size", "0"], "batch_size=0"),
    (["--width", "0"], "width=0"),
    (["--width", "-8"], "width=-8"),
    (["--device", "foo"], "unknown device"),
    (["--steps", "0"], "steps=0"),
    (["--steps", "-3"], "steps=-3"),
])
def test_a_bad_size_or_device_is_one_clear_line_with_exit_2(tmp_path, capsys, flags, needle):
    code, err = _cli(["train", *SYNTH, "--steps", "2", "--out", tmp_path / "run", *flags], capsys)
    _one_clear_line(code, err, needle)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_cuda_without_a_gpu_says_so(tmp_path, capsys):
    code, err = _cli(["train", *SYNTH, "--steps", "2", "--device", "cuda", "--out", tmp_path / "r"], capsys)
    _one_clear_line(code, err, "no CUDA GPU")


def test_an_unusable_output_folder_is_one_clear_line(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for out, needle in ((a_file, "is a file"), (a_file / "sub", "part of that path is a file"),
                        (Path("/proc/gan_course_probe"), "not writable")):
        code, err = _cli(["train", *SYNTH, "--steps", "2", "--out", out], capsys)
        _one_clear_line(code, err, needle)
    code, err = _cli(["sample", "--checkpoint", tmp_path, "--out", tmp_path, "--n", "2"], capsys)
    _one_clear_line(code, err, "is a folder")


# ---------------------------------------------------------------- 2. one config reader
@pytest.mark.parametrize("content,needle", [
    ({"lr": 0.01}, "unknown option"),
    ({"steps": "2"}, "steps must be a whole number"),
    ({"resume": "false"}, "unknown option"),
    ([1, 2], "must be a JSON object"),
    ('{"steps": 2,', "not valid JSON"),
])
def test_train_and_run_read_configs_with_one_strict_loader(tmp_path, capsys, content, needle):
    cfg = tmp_path / "c.json"
    cfg.write_text(content if isinstance(content, str) else json.dumps(content))
    for verb in ("train", "run"):
        code, err = _cli([verb, "--config", cfg, "--dataset", "synthetic", "--out", tmp_path / verb], capsys)
        _one_clear_line(code, err, needle)


def test_train_finds_a_shipped_config_by_name(tmp_path, capsys):
    code, err = _cli(["train", "--config", "wgan_gp_fmnist", "--dataset", "synthetic", "--width", "8",
                      "--batch-size", "8", "--steps", "1", "--out", tmp_path / "r"], capsys)
    assert code == 0, err
    assert load_checkpoint(tmp_path / "r")["config"]["n_critic"] == 5


# ---------------------------------------------------------------- 3. resume honours what it accepts
def test_a_resume_that_would_change_the_run_is_refused_and_leaves_run_config_alone(tmp_path, capsys):
    out = tmp_path / "r"
    assert _cli(["train", *SYNTH, "--steps", "2", "--out", out], capsys)[0] == 0
    before = (out / "run_config.json").read_text()
    for flags, needle in ((["--seed", "2"], "config.seed"), (["--loss", "wgan-gp"], "config.loss")):
        code, err = _cli(["train", *SYNTH, "--steps", "4", "--out", out, "--resume", *flags], capsys)
        _one_clear_line(code, err, needle)
        assert (out / "run_config.json").read_text() == before, "a refused resume rewrote run_config.json"
    cfg = tmp_path / "lr.json"
    cfg.write_text(json.dumps({"lr_g": 0.01}))
    code, err = _cli(["train", "--config", cfg, *SYNTH, "--steps", "4", "--out", out, "--resume"], capsys)
    _one_clear_line(code, err, "lr_g")
    assert _cli(["train", *SYNTH, "--steps", "4", "--out", out, "--resume"], capsys)[0] == 0
    assert load_checkpoint(out)["step"] == 4


def test_a_resume_on_other_data_is_refused(tmp_path):
    G, D = DCGANGenerator(8, 1, 32, 8), DCGANDiscriminator(1, 32, 8)
    cfg = TrainConfig(latent_dim=8, steps=2, batch_size=8, sample_every=0)
    train(G, D, InMemoryLoader(synthetic_images(64, 1, 32), 8), cfg, out_dir=tmp_path, progress=False)
    other = InMemoryLoader(synthetic_images(96, 1, 32), 8)
    with pytest.raises(CheckpointError, match="data: checkpoint"):
        train(G, D, other, TrainConfig(latent_dim=8, steps=4, batch_size=8, sample_every=0), out_dir=tmp_path,
              resume=True, progress=False)


def test_rerunning_a_finished_run_without_resume_is_refused_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["train", *SYNTH, "--steps", "2", "--out", out]
    assert _cli(args, capsys)[0] == 0
    code, err = _cli(args, capsys)
    _one_clear_line(code, err, "already holds a run", "--resume", "--overwrite")
    assert _cli(args + ["--overwrite"], capsys)[0] == 0


# ---------------------------------------------------------------- 4. Ctrl-C keeps a checkpoint
def _train_then_signal(out: Path, sig) -> tuple:
    """Start a long CLI training run in ``out``, send ``sig`` once it trains: ``(returncode, stderr)``."""
    cmd = [sys.executable, "-m", "gan_utils", "train", *SYNTH, "--steps", "100000", "--ckpt-every", "0",
           "--sample-every", "1", "--out", str(out)]
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    deadline = time.time() + 120
    while not list(out.glob("samples_*.png")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)                                   # wait until it is training
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    return proc.returncode, stderr


@pytest.mark.slow   # > 20 s on 2 cores: run by `make test`, not by the floor test
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_keeps_a_checkpoint_and_says_how_to_resume(tmp_path, sig):
    out = tmp_path / "r"
    code, stderr = _train_then_signal(out, sig)
    assert code == 130, stderr
    lines = [line for line in stderr.splitlines() if line.strip() and "%|" not in line and "it/s]" not in line]
    assert lines and "Traceback" not in stderr and lines[-1].startswith("interrupted after step")
    assert "Resume with: python -m gan_utils train" in lines[-1] and "--resume" in lines[-1]
    ck = load_checkpoint(out)
    assert ck["step"] >= 1 and ck["history"]["step"][-1] == ck["step"]
    assert not (out / LOCK).exists(), "the run folder's lock was left behind"


# ---------------------------------------------------------------- 5. NaN weights are never saved as good
def test_a_nan_weight_is_never_saved_as_good(tmp_path):
    torch.manual_seed(0)
    G, D = DCGANGenerator(8, 1, 32, 8), DCGANDiscriminator(1, 32, 8)
    calls = {"n": 0}

    def poison(grad):                                     # step 3: a NaN gradient, the loss still finite
        calls["n"] += 1
        return grad * float("nan") if calls["n"] == 3 else grad

    G.net[0].weight.register_hook(poison)
    cfg = TrainConfig(latent_dim=8, steps=6, batch_size=8, ckpt_every=1, log_every=1, sample_every=0)
    with pytest.raises(NonFiniteLossError, match="NaN or inf at step 3.*nothing was saved") as e:
        train(G, D, InMemoryLoader(synthetic_images(64, 1, 32), 8), cfg, out_dir=tmp_path, progress=False)
    assert "checkpoint_latest.pt" in str(e.value)
    ck = load_checkpoint(tmp_path)
    assert ck["step"] == 2 and all(torch.isfinite(v).all() for v in ck["G"].values() if v.is_floating_point())


# ---------------------------------------------------------------- 6. one writer per run folder
def test_a_second_writer_is_refused_and_a_stale_lock_is_taken_over(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / LOCK).write_text(f"{os.uname().nodename} {sleeper.pid}")     # a live writer
        code, err = _cli(["train", *SYNTH, "--steps", "2", "--out", out], capsys)
        _one_clear_line(code, err, "being written by another run", str(sleeper.pid))
    finally:
        sleeper.kill()
        sleeper.wait()
    (out / LOCK).write_text(f"{os.uname().nodename} {sleeper.pid}")         # its process is gone: stale
    assert _cli(["train", *SYNTH, "--steps", "2", "--out", out], capsys)[0] == 0
    assert not (out / LOCK).exists()


# ---------------------------------------------------------------- 7. disk full, and what kills leave behind
def _small_tmpfs(path: Path, size: str):
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root with CAP_SYS_ADMIN): {r.stderr.decode().strip()}")


def test_a_full_disk_says_so_and_keeps_the_last_good_checkpoint(tmp_path):
    disk = tmp_path / "disk"
    _small_tmpfs(disk, "1m")
    try:
        small = {"x": torch.zeros(10_000)}                  # 40 kB: fits
        save_checkpoint(small, disk / "checkpoint_latest.pt")
        with pytest.raises(runtime.DiskFullError, match="no space left on"):
            save_checkpoint({"x": torch.zeros(1_000_000)}, disk / "checkpoint_latest.pt")   # 4 MB: does not
        assert torch.equal(load_checkpoint(disk / "checkpoint_latest.pt")["x"], small["x"])
        assert not list(disk.glob("*.tmp")), "a temporary file was left on the full disk"
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_temp_files_left_by_a_killed_writer_are_removed_on_start(tmp_path):
    (tmp_path / "checkpoint_latest.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    G, D = DCGANGenerator(8, 1, 32, 8), DCGANDiscriminator(1, 32, 8)
    train(G, D, InMemoryLoader(synthetic_images(64, 1, 32), 8),
          TrainConfig(latent_dim=8, steps=1, batch_size=8, sample_every=0), out_dir=tmp_path, progress=False)
    assert not list(tmp_path.glob("*.tmp"))


# ---------------------------------------------------------------- 8. data files
def _idx_copy(tmp_path, swap_labels=False):
    if not (FMNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("apt-get install dataset-fashion-mnist")
    d = tmp_path / "data"
    d.mkdir()
    for split in ("train", "t10k"):
        for kind in ("images-idx3", "labels-idx1"):
            name = f"{split}-{kind}-ubyte.gz"
            (d / name).write_bytes((FMNIST / name).read_bytes())
    if swap_labels:   # train images paired with the test labels
        (d / "train-labels-idx1-ubyte.gz").write_bytes((FMNIST / "t10k-labels-idx1-ubyte.gz").read_bytes())
    return d


def test_a_corrupt_or_truncated_idx_file_names_the_file_and_the_fix(tmp_path, monkeypatch):
    d = _idx_copy(tmp_path)
    monkeypatch.setenv("GAN_COURSE_DATA", str(d))
    monkeypatch.setenv("GAN_COURSE_OFFLINE", "1")
    f = d / "t10k-images-idx3-ubyte.gz"
    good = f.read_bytes()
    for bad in (b"not a gzip file at all", good[: len(good) // 2]):
        f.write_bytes(bad)
        with pytest.raises(DataUnavailableError, match="t10k-images-idx3-ubyte.gz.*(damaged|Delete it)"):
            load_dataset("fashion-mnist", train=False)


def test_images_paired_with_the_wrong_labels_are_refused(tmp_path, monkeypatch):
    d = _idx_copy(tmp_path, swap_labels=True)
    monkeypatch.setenv("GAN_COURSE_DATA", str(d))
    monkeypatch.setenv("GAN_COURSE_OFFLINE", "1")
    with pytest.raises(DataUnavailableError, match="60000 images.*10000 labels.*do not belong together"):
        load_dataset("fashion-mnist", train=True)


def test_an_absurd_or_non_integer_image_size_is_refused_before_memory_runs_out():
    x = torch.zeros(10, 1, 28, 28, dtype=torch.uint8)
    with pytest.raises(ValueError, match="image_size=1000"):
        resize_images(x, 1000)
    with pytest.raises(ValueError, match="whole number"):
        resize_images(x, 32.5)


# ---------------------------------------------------------------- 9. metrics refuse nonsense
def test_frechet_distance_refuses_a_matrix_that_is_not_a_covariance():
    with pytest.raises(ValueError, match="negative eigenvalue"):
        frechet_distance(np.zeros(2), -np.eye(2), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="not symmetric"):
        frechet_distance(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2))


def test_fid_checks_its_inputs_at_the_entrance():
    with pytest.raises(ValueError, match="at least two"):
        fid(torch.zeros(0, 1, 32, 32), "fashion-mnist", features="classifier")
    with pytest.raises(ValueError, match="n_real=0"):
        fid(torch.zeros(4, 1, 32, 32), "fashion-mnist", features="classifier", n_real=0)
    with pytest.raises(ValueError, match="unknown reference dataset 'imagenet'"):
        fid(torch.zeros(4, 1, 32, 32), "imagenet", features="classifier")


# ---------------------------------------------------------------- 10. the smaller ones
def test_sample_refuses_zero_and_more_than_memory_holds(tmp_path, capsys):
    out = tmp_path / "r"
    assert _cli(["train", *SYNTH, "--steps", "1", "--out", out], capsys)[0] == 0
    code, err = _cli(["sample", "--checkpoint", out, "--n", "0", "--out", tmp_path / "s.pt"], capsys)
    _one_clear_line(code, err, "at least one sample")
    code, err = _cli(["sample", "--checkpoint", out, "--n", str(10 ** 12), "--out", tmp_path / "s.pt"], capsys)
    _one_clear_line(code, err, "GiB")
    assert not (tmp_path / "s.pt").exists()


def test_only_truly_unreadable_checkpoints_are_called_unreadable(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "gan_course/checkpoint-v1", "G": Evil()}, evil)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(evil)
    assert "weights_only=False" not in str(e.value) and "could run code" in str(e.value)
    bare = tmp_path / "bare.pt"
    save_checkpoint({"G": {}}, bare)                    # a hand-made checkpoint without model_config
    with pytest.raises(CheckpointError, match="no model_config"):
        load_generator(bare)


def test_one_env_flag_parser_for_every_switch(monkeypatch):
    for value, expected in (("1", True), ("2", True), ("yes", True), ("0", False), ("off", False), ("", False)):
        monkeypatch.setenv("GAN_COURSE_SMOKE", value)
        assert runtime.env_flag("GAN_COURSE_SMOKE") is expected, value
    monkeypatch.setenv("GAN_COURSE_SMOKE", "maybe")
    with pytest.raises(runtime.UserError, match="not a yes/no value"):
        runtime.env_flag("GAN_COURSE_SMOKE")


def test_the_unknown_dataset_message_lists_synthetic_too(tmp_path, capsys):
    code, err = _cli(["train", "--dataset", "imagenet", "--steps", "1", "--out", tmp_path / "r"], capsys)
    _one_clear_line(code, err, "Valid names", "synthetic")


def test_an_unwritable_checkpoint_folder_names_its_variable(tmp_path, monkeypatch):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    monkeypatch.setenv("GAN_COURSE_CHECKPOINTS", str(a_file))
    with pytest.raises(runtime.UserError, match="GAN_COURSE_CHECKPOINTS"):
        runtime.ensure_writable_dir(runtime.checkpoint_dir("04"), "checkpoint folder")


def test_mode_coverage_refuses_points_that_are_not_2d_instead_of_reshaping_them():
    from gan_utils.metrics import mode_coverage

    centres = torch.zeros(8, 2)
    with pytest.raises(ValueError, match=r"samples \(N, 2\).*\(4, 3\)"):
        mode_coverage(torch.zeros(4, 3), centres, 0.02)
    with pytest.raises(ValueError, match="std=0"):
        mode_coverage(torch.zeros(4, 2), centres, 0.0)


# ================================================================ the next probe (issue 32), by cause
def _cli_process(args, env_extra=None, timeout=180):
    """``python -m gan_utils ARGS`` in a fresh interpreter: catches what happens while importing too."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT), "GAN_COURSE_OFFLINE": "1",
           **(env_extra or {})}
    r = subprocess.run([sys.executable, "-m", "gan_utils", *map(str, args)], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=timeout)
    lines = [line for line in r.stderr.splitlines() if line.strip() and "%|" not in line]
    return r.returncode, lines


def _one_line_from_process(code, lines, *needles):
    assert code == 2, (code, lines)
    assert len(lines) == 1 and lines[0].startswith("error: ") and not any("Traceback" in x for x in lines), lines
    for n in needles:
        assert n.lower() in lines[0].lower(), (n, lines[0])


def _folder_of_images(path: Path, n: int, size: int = 8, classes=None):
    from PIL import Image

    for i in range(n):
        sub = path / classes[i % len(classes)] if classes else path
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((size, size), 40 * (i % 6), dtype=np.uint8), mode="L").save(sub / f"{i}.png")
    return path


def _idx_bytes(dims, payload=None) -> bytes:
    magic = (0x08 << 8) | len(dims)
    head = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    return head + (payload if payload is not None else bytes(int(np.prod(dims, dtype=np.int64))))


# ---------------------------------------------------------------- cause 1: every user error is one line
def test_a_batch_larger_than_the_dataset_is_one_line_with_the_fix(tmp_path, capsys):
    # guards against: "batch_size=N is larger than the dataset" as a ValueError traceback from the loader
    folder = _folder_of_images(tmp_path / "three", 3)
    code, err = _cli(["train", "--dataset", f"folder:{folder}", "--image-size", "32", "--channels", "1",
                      "--width", "8", "--steps", "1", "--out", tmp_path / "r"], capsys)
    _one_clear_line(code, err, "batch_size=128 is larger than the dataset", "3 images", "--batch-size 3")
    code, err = _cli(["train", *SYNTH[:-2], "--batch-size", "100000", "--steps", "1", "--out", tmp_path / "s"], capsys)
    _one_clear_line(code, err, "batch_size=100000", "2048 images")
    assert not (tmp_path / "r" / "checkpoint_latest.pt").exists()


def test_idx_files_of_zero_images_are_refused_as_damaged(tmp_path, monkeypatch):
    for name, dims in (("train-images-idx3-ubyte", [0, 28, 28]), ("train-labels-idx1-ubyte", [0])):
        (tmp_path / name).write_bytes(_idx_bytes(dims))
    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path))
    with pytest.raises(DataUnavailableError, match="holds no images"):
        load_dataset("fashion-mnist", root=tmp_path)


@pytest.mark.parametrize("verb", ["train", "sample"])
def test_a_seed_beyond_the_seed_range_is_one_line(tmp_path, capsys, verb):
    # guards against: "Overflow when unpacking long" from torch's generator for a seed of 2**64 and more
    out = tmp_path / "r"
    if verb == "sample":
        assert _cli(["train", *SYNTH, "--steps", "1", "--out", out], capsys)[0] == 0
        args = ["sample", "--checkpoint", out, "--n", "2", "--seed", str(2**64), "--out", tmp_path / "s.pt"]
    else:
        args = ["train", *SYNTH, "--steps", "1", "--seed", str(2**64), "--out", out]
    code, err = _cli(args, capsys)
    _one_clear_line(code, err, "seed", "2**32 - 1")


def test_a_checkpoint_whose_weights_do_not_match_its_config_is_one_line(tmp_path, capsys):
    # guards against: load_state_dict's "size mismatch" traceback from `sample`
    out = tmp_path / "r"
    assert _cli(["train", *SYNTH, "--steps", "1", "--out", out], capsys)[0] == 0
    ck = load_checkpoint(out)
    ck["model_config"]["G"]["width"] = 16                 # the config says 16, the weights are width 8
    save_checkpoint({k: v for k, v in ck.items() if k != "format"}, out / "checkpoint_latest.pt")
    code, err = _cli(["sample", "--checkpoint", out, "--n", "2", "--out", tmp_path / "s.pt"], capsys)
    _one_clear_line(code, err, "do not fit", "DCGANGenerator")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_generator(out)


def test_a_damaged_eval_log_on_resume_is_one_line(tmp_path, capsys):
    # guards against: a JSONDecodeError traceback from `run` on a run folder whose eval.json is damaged
    out = tmp_path / "r"
    cfg = ["run", "--config", "dcgan_fmnist", "--dataset", "synthetic", "--features", "pixels", "--smoke"]
    assert _cli([*cfg, "--out", out], capsys)[0] == 0
    for bad in ('{"evals": [', '[1, 2]', '{"evals": [{"step": "x"}]}'):
        (out / "eval.json").write_text(bad)
        code, err = _cli([*cfg, "--out", out], capsys)
        _one_clear_line(code, err, "eval.json", "Move it away")


def test_a_run_lock_that_is_not_a_file_is_one_line(tmp_path, capsys):
    out = tmp_path / "r"
    (out / LOCK).mkdir(parents=True)
    code, err = _cli(["train", *SYNTH, "--steps", "1", "--out", out], capsys)
    _one_clear_line(code, err, "is not a lock file", "rm -r")


def test_an_idx_header_whose_size_overflows_is_refused_without_reading_it(tmp_path, monkeypatch):
    # guards against: np.prod of the header's dims overflowing int64 (a wrong size, then a reshape traceback)
    # 2**31 * 2**31 * 4 = 2**64 wraps to 0 in int64: the old size check then accepted a header-only file
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes([2**31, 2**31, 4], payload=b""))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes([10]))
    with pytest.raises(DataUnavailableError, match="t10k-images-idx3-ubyte.*(header promises|free memory)"):
        load_dataset("fashion-mnist", root=tmp_path, train=False)


@pytest.mark.parametrize("var,value,needle", [
    ("GAN_COURSE_SMOKE", "maybe", None),                 # the CLI never reads it: no error at all
    ("GAN_COURSE_OFFLINE", "perhaps", "GAN_COURSE_OFFLINE='perhaps' is not a yes/no value"),
])
def test_a_bad_environment_flag_is_never_a_traceback(tmp_path, var, value, needle):
    # guards against: env_flag's UserError raised while gan_utils is imported, printed as a traceback
    data = ["--dataset", "fashion-mnist"] if var == "GAN_COURSE_OFFLINE" else SYNTH[:4]   # OFFLINE: read on loading
    code, lines = _cli_process(["train", *data, "--width", "8", "--batch-size", "8", "--steps", "1",
                                "--out", tmp_path / "r"], {var: value})
    if needle is None:
        assert code == 0, lines
    else:
        _one_line_from_process(code, lines, needle)
    r = subprocess.run([sys.executable, "-c", "import gan_utils; gan_utils.SMOKE"], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT), GAN_COURSE_SMOKE="maybe"))
    assert r.returncode == 1 and "not a yes/no value" in r.stderr    # a notebook reading it gets the clear error


def test_world_size_without_torchrun_is_one_line(tmp_path):
    code, lines = _cli_process(["train", *SYNTH, "--steps", "1", "--out", tmp_path / "r"], {"WORLD_SIZE": "2"})
    _one_line_from_process(code, lines, "WORLD_SIZE=2", "torchrun")


def test_a_width_that_cannot_be_allocated_is_one_line(tmp_path, capsys):
    code, err = _cli(["train", *SYNTH[:-4], "--width", "200000", "--batch-size", "16", "--steps", "1",
                      "--out", tmp_path / "r"], capsys)
    _one_clear_line(code, err, "width=200000", "smaller width")


# ---------------------------------------------------------------- cause 2: ranges checked on entry
@pytest.mark.parametrize("options,needle", [
    ({"loss": "wgan-clip", "clip_value": 0}, "clip_value=0"),
    ({"loss": "wgan-clip", "clip_value": -0.01}, "clip_value=-0.01"),
    ({"loss": "wgan-gp", "gp_weight": -10}, "gp_weight=-10"),
    ({"r1_gamma": -1}, "r1_gamma=-1"),
    ({"lr_g": 1e400}, "lr_g=inf"),
    ({"lr_d": 0}, "lr_d=0"),
    ({"lr_d": -2e-4}, "lr_d=-0.0002"),
    ({"betas_g": [0.5, 1.0]}, "betas_g=(0.5, 1.0)"),
    ({"betas_d": [-0.1, 0.9]}, "betas_d=(-0.1, 0.9)"),
    ({"steps": 1e30}, "steps=1000000000000000019884624838656"),
    ({"steps": 2.5}, "steps must be a whole number"),
    ({"n_eval": 1, "eval_every": 1}, "n_eval=1"),
    ({"n_ref": 1}, "n_ref=1"),
    ({"dataset": "fashion-mnist", "channels": 3}, "fashion-mnist images have 1 channel"),
    ({"eval_seed": -1}, "eval_seed=-1"),
])
def test_a_value_out_of_range_is_refused_before_any_work(tmp_path, capsys, options, needle):
    # guards against: clip_value <= 0 turning every critic weight into -0.01, steps=1e30 running until killed,
    # n_eval=1 failing only after training, --channels 3 on Fashion-MNIST recorded but not used
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"dataset": "synthetic", "width": 8, "batch_size": 8, "steps": 1, **options}))
    for verb in ("train", "run"):
        code, err = _cli([verb, "--config", cfg, "--out", tmp_path / verb], capsys)
        _one_clear_line(code, err, needle)
        assert not (tmp_path / verb / "run_config.json").exists(), "a refused run wrote its folder"


def test_a_truncation_so_small_that_redrawing_never_ends_is_refused(tmp_path, capsys):
    from gan_utils.models import truncated_normal

    out = tmp_path / "r"
    assert _cli(["train", *SYNTH, "--steps", "1", "--out", out], capsys)[0] == 0
    code, err = _cli(["sample", "--checkpoint", out, "--n", "4", "--truncation", "1e-9", "--out", tmp_path / "s.pt"],
                     capsys)
    _one_clear_line(code, err, "--truncation 1e-09 must be at least 0.001")
    with pytest.raises(runtime.ConfigError, match="truncation=1e-09"):
        truncated_normal(4, 8, 1e-9)
    t0 = time.perf_counter()
    z = truncated_normal(256, 100, 1e-3)                  # the smallest allowed ends, and fast
    assert float(z.abs().max()) <= 1e-3 and time.perf_counter() - t0 < 30


# ---------------------------------------------------------------- cause 3: the run driver's lock and resume
def test_two_run_drivers_on_one_folder_never_both_write(tmp_path):
    # guards against: the lock held only inside each train() call, so a second driver evaluated and wrote
    # eval.json, best.pt and run_config.json between the first one's chunks
    from gan_utils.experiment import run_experiment

    out = tmp_path / "r"
    probe = ("import sys; from gan_utils.checkpoint import RunLock, CheckpointError\n"
             "try:\n    RunLock(sys.argv[1]).__enter__(); print('free')\n"
             "except CheckpointError as e:\n    print('locked' if 'being written by another run' in str(e) else e)")
    seen = []

    def another_driver(entry):                             # between chunks: could a second process write here?
        r = subprocess.run([sys.executable, "-c", probe, str(out)], capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH=str(ROOT)))
        seen.append(r.stdout.strip() or r.stderr[-300:])

    run_experiment("dcgan_fmnist", out, smoke=True, overrides={"dataset": "synthetic", "features": "pixels"},
                   progress=False, verbose=False, after_eval=another_driver)
    assert seen and all(s == "locked" for s in seen), seen
    assert not (out / LOCK).exists()


def test_a_resume_behind_the_checkpoint_is_refused_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "r"
    assert _cli(["train", *SYNTH, "--steps", "5", "--out", out], capsys)[0] == 0
    before = (out / "run_config.json").read_text()
    code, err = _cli(["train", *SYNTH, "--steps", "3", "--out", out, "--resume"], capsys)
    _one_clear_line(code, err, "already at step 5, past steps=3", "--steps N with N > 5")
    assert (out / "run_config.json").read_text() == before and load_checkpoint(out)["step"] == 5


def test_a_lock_of_a_live_process_that_is_not_a_run_says_how_to_take_it_over(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / LOCK).write_text(f"{os.uname().nodename} 1")   # PID 1 is alive, and no gan_utils run
    code, err = _cli(["train", *SYNTH, "--steps", "1", "--out", out], capsys)
    _one_clear_line(code, err, "process 1", f"rm '{out / LOCK}'")


def test_a_stale_lock_from_another_host_is_taken_over_and_a_fresh_one_is_refused(tmp_path, capsys):
    # guards against: Colab's re-run after a disconnect refused forever by the dead VM's lock on Drive
    from gan_utils.checkpoint import STALE_AFTER_S

    out = tmp_path / "r"
    out.mkdir()
    (out / LOCK).write_text("colab-vm-that-died 4242")
    code, err = _cli(["train", *SYNTH, "--steps", "1", "--out", out], capsys)          # heartbeat just now
    _one_clear_line(code, err, "host colab-vm-that-died", "last heartbeat", f"rm '{out / LOCK}'")
    old = time.time() - STALE_AFTER_S - 5
    os.utime(out / LOCK, (old, old))                                                    # no heartbeat since
    assert _cli(["train", *SYNTH, "--steps", "1", "--out", out], capsys)[0] == 0
    assert not (out / LOCK).exists()


def test_the_lock_holder_keeps_its_heartbeat_alive(tmp_path, monkeypatch):
    from gan_utils import checkpoint

    monkeypatch.setattr(checkpoint, "HEARTBEAT_S", 0.05)
    with checkpoint.RunLock(tmp_path):
        old = time.time() - 1000
        os.utime(tmp_path / LOCK, (old, old))
        time.sleep(0.5)
        assert time.time() - (tmp_path / LOCK).stat().st_mtime < 5, "the heartbeat stopped"
    assert not (tmp_path / LOCK).exists()


# ---------------------------------------------------------------- cause 4: the data layer trusts nothing
def test_a_named_dataset_knows_its_classes_and_refuses_a_damaged_label(tmp_path, monkeypatch):
    # guards against: a corrupt label 12 making a silent 13-class model (and `sample --class 12` working)
    d = _idx_copy(tmp_path)
    raw = gzip.decompress((d / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(raw[:8 + 5] + bytes([12]) + raw[8 + 6:]))
    with pytest.raises(DataUnavailableError, match="item 5 has label 12, outside its 10 classes"):
        load_dataset("fashion-mnist", root=d, train=False)


def test_a_folders_classes_are_its_sub_folders(tmp_path):
    from gan_utils.config import build_run

    folder = _folder_of_images(tmp_path / "f", 12, classes=["cats", "dogs", "owls"])
    G, D, loader, _ = build_run({"dataset": f"folder:{folder}", "channels": 1, "conditional": "projection",
                                 "width": 8, "batch_size": 4, "steps": 1})
    assert G.num_classes == D.num_classes == 3


def test_file_names_that_are_not_utf8_are_read_and_named(tmp_path):
    # guards against: UnicodeEncodeError in the cache fingerprint for a file name from another system
    folder = _folder_of_images(tmp_path / "f", 2)
    os.rename(folder / "0.png", os.fsencode(str(folder)) + b"/caf\xe9.png")
    ds = load_dataset(f"folder:{folder}", image_size=32, channels=1)
    assert len(ds) == 2


def test_images_without_their_labels_name_the_missing_file(tmp_path, monkeypatch):
    # guards against: GAN_COURSE_DATA with the images only silently falling back to the system copy
    d = _idx_copy(tmp_path)
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv("GAN_COURSE_DATA", str(d))
    with pytest.raises(DataUnavailableError, match="t10k-images-idx3-ubyte.gz but not the labels file"):
        load_dataset("fashion-mnist", train=False)


def test_a_gzip_that_expands_beyond_its_header_is_refused_after_the_promised_bytes(tmp_path, monkeypatch):
    # guards against: decompressing a gzip bomb whole (3.5 GB peak) before comparing it with the header
    import tracemalloc

    bomb = gzip.compress(_idx_bytes([10, 28, 28]) + bytes(200 * 2**20))   # 200 MB of zeros, ~200 kB compressed
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(bomb)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes([10]))
    tracemalloc.start()
    try:
        with pytest.raises(DataUnavailableError, match="holds more than 7856 bytes where its header promises 7856"):
            load_dataset("fashion-mnist", root=tmp_path, train=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, f"{peak / 2**20:.0f} MB read for a file that promises 8 kB"


def test_a_dangling_symlink_is_named_as_unreadable(tmp_path):
    from gan_utils.data import ImageFolderError

    folder = _folder_of_images(tmp_path / "f", 3)
    (folder / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(ImageFolderError, match="gone.png"):
        load_dataset(f"folder:{folder}", image_size=32, channels=1)


def test_a_truncated_checkpoint_says_truncated_not_invalid_argument(tmp_path, capsys):
    out = tmp_path / "r"
    assert _cli(["train", *SYNTH, "--steps", "1", "--out", out], capsys)[0] == 0
    data = (out / "checkpoint_latest.pt").read_bytes()
    for cut in (len(data) // 20, len(data) // 3, len(data) - 30):   # a 5 % stub: torch says EINVAL (an OSError)
        (out / "checkpoint_latest.pt").write_bytes(data[:cut])
        code, err = _cli(["sample", "--checkpoint", out, "--n", "2", "--out", tmp_path / "s.pt"], capsys)
        _one_clear_line(code, err, "truncated or not a torch file")
        assert "Invalid argument" not in err


# ---------------------------------------------------------------- cause 5: signals, torchrun, API edges
@pytest.mark.slow   # > 20 s on 2 cores: run by `make test`, not by the floor test
def test_sighup_saves_a_whole_step_and_the_run_resumes_bit_for_bit(tmp_path):
    # guards against: a closed terminal or a dropped ssh killing the run without a checkpoint (and its lock left)
    out = tmp_path / "r"
    code, stderr = _train_then_signal(out, signal.SIGHUP)
    assert code == 130 and "interrupted after step" in stderr, stderr
    step = load_checkpoint(out)["step"]
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", PYTHONPATH=str(ROOT))
    assert step >= 1 and not (out / LOCK).exists()
    whole = tmp_path / "whole"
    for args in (["--out", out, "--resume"], ["--out", whole]):
        subprocess.run([sys.executable, "-m", "gan_utils", "train", *map(str, SYNTH), "--steps", str(step + 2),
                        "--ckpt-every", "0", "--sample-every", "1", *map(str, args)], env=env, cwd=ROOT, check=True,
                       capture_output=True)
    a, b = load_checkpoint(out), load_checkpoint(whole)
    for key in ("G", "D", "G_ema"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key


@pytest.mark.slow
def test_under_torchrun_a_user_error_is_printed_once_and_every_rank_exits_2(tmp_path):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        "-m", "gan_utils", "train", *map(str, SYNTH), "--steps", "1", "--lr-d", "-1",
                        "--out", str(tmp_path / "r")], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    ours = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(ours) == 1 and "lr_d=-1" in ours[0], r.stderr[-2000:]
    assert r.returncode != 0
    assert r.stderr.count("exitcode  : 2") == 2 or r.stderr.count("exitcode: 2") == 2 or "exitcode  : 2" in r.stderr


@pytest.mark.parametrize("call,needle", [
    (lambda: __import__("gan_utils.metrics", fromlist=["kid"]).kid(np.full((4, 3), np.nan), np.ones((4, 3))),
     "real_features holds NaN"),
    (lambda: __import__("gan_utils.metrics", fromlist=["x"]).mode_coverage(torch.tensor([[0.0, float("nan")]]),
                                                                         torch.zeros(8, 2), 0.02), "samples holds NaN"),
    (lambda: __import__("gan_utils.metrics", fromlist=["x"]).mode_coverage(torch.zeros(4, 2), torch.zeros(0, 2), 0.02),
     "centers needs at least 1 row"),
    (lambda: __import__("gan_utils.metrics", fromlist=["x"]).nearest_neighbours(torch.ones(2, 3),
                                                                              torch.tensor([[0.0, 1, float("inf")]])),
     "reference_features holds NaN or inf"),
    (lambda: __import__("gan_utils.metrics", fromlist=["x"]).distance_ratio(torch.ones(2, 3), torch.ones(5, 3),
                                                                          torch.zeros(0, 3)),
     "heldout_features needs at least 1 row"),
    (lambda: __import__("gan_utils.losses", fromlist=["x"]).d_loss_bce(torch.ones(4, dtype=torch.long),
                                                                     torch.zeros(4)), "dtype torch.int64"),
    (lambda: __import__("gan_utils.losses", fromlist=["x"]).d_loss_bce(torch.zeros(0), torch.zeros(0)), "is empty"),
    (lambda: __import__("gan_utils.losses", fromlist=["x"]).gradient_penalty(
        DCGANDiscriminator(1, 32, 8, norm="batch"), torch.zeros(2, 1, 32, 32), torch.zeros(2, 1, 32, 32)),
     "critic with BatchNorm"),
    (lambda: DCGANGenerator(latent_dim=0), "latent_dim=0"),
    (lambda: DCGANGenerator(width=0), "width=0"),
    (lambda: DCGANDiscriminator(1, 32, width=0), "width=0"),
])
def test_api_edges_raise_one_clear_library_error_at_the_entrance(call, needle):
    with pytest.raises(runtime.UserError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_fid_of_images_in_0_1_warns_about_the_range():
    # guards against: a [0, 1] / [-1, 1] mix-up scored without a word (only values beyond [-1, 1] warned)
    x = torch.rand(64, 1, 32, 32)
    with pytest.warns(UserWarning, match=r"i\.e\. \[0, 1\].*x \* 2 - 1"):
        fid(x, "fashion-mnist", features="classifier", n=64, n_real=256)
