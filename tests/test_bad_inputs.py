"""The bad-input probe, kept: one test per cause of the 54 broken or half-kept promises it found.

Each test is named after the promise. CLI tests call ``gan_utils.cli.main`` (exit status 2 and one
line for a user's mistake, never a traceback); signal tests run the CLI in a subprocess.
"""
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
@pytest.mark.slow   # > 20 s on 2 cores: run by `make test`, not by the floor test
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_keeps_a_checkpoint_and_says_how_to_resume(tmp_path, sig):
    out = tmp_path / "r"
    cmd = [sys.executable, "-m", "gan_utils", "train", *SYNTH, "--steps", "100000", "--ckpt-every", "0",
           "--sample-every", "1", "--out", str(out)]
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    deadline = time.time() + 120
    while not list(out.glob("samples_*.png")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)                                   # wait until it is training
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
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
