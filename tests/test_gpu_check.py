"""scripts/gpu_check.py must not rot between the sessions that have a GPU: its dry run on the CPU
runs every part at tiny sizes and writes every record, into a temporary folder only."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow   # > 20 s on 2 cores: run by `make test`, not by the floor test
def test_gpu_check_dry_run_runs_every_part_and_writes_every_record(tmp_path):
    before = {p: p.read_bytes() for p in (ROOT / "docs" / "runtimes.json", ROOT / "benchmarks" / "RESULTS.md",
                                            ROOT / "configs" / "RESULTS.md")}
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--dry-run", "--out-dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((tmp_path / "records" / "docs" / "gpu_check.json").read_text())
    assert "dry run" in summary["hardware"] and set(summary["parts"]) == {"cuda_tests", "bench", "steps", "notebook08",
                                                                          "fmnist"}
    assert all(p["ok"] for p in summary["parts"].values())
    steps = summary["parts"]["steps"]["configs"]
    assert {"dcgan_cifar10", "wgan_gp_cifar10", "dcgan_fmnist", "wgan_gp_fmnist"} <= set(steps)
    assert all(v["steps_per_s"] > 0 and v["projected_training_minutes"] > 0 for v in steps.values())
    db = json.loads((tmp_path / "records" / "docs" / "runtimes.json").read_text())
    assert db["08_full_training"]["gpu_smoke"]["seconds"] > 0
    assert "dry-run" in (tmp_path / "records" / "configs" / "RESULTS.md").read_text()
    for p, content in before.items():   # a dry run never touches the repository's records
        assert p.read_bytes() == content, f"{p} was modified by a dry run"
