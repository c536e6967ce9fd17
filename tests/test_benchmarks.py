import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_train_step_benchmark_runs_one_birds_tiny_step(tmp_path):
    rows_file = tmp_path / "rows.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "train_step.py"),
               "--presets=birds_tiny", "--workloads=mirrorgan", "--variants=plain",
               "--steps=1", "--warmup=1", "--matmul_size=512", f"--json={rows_file}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT,
                            env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| birds_tiny | mirrorgan | plain | 32 |" in result.stdout
    (row,) = json.loads(rows_file.read_text())
    assert row["gflop_per_step"] > 10 and row["images_per_s"] > 0
    assert row["gflops"] == pytest.approx(row["gflop_per_step"] / row["seconds"])
    assert 0 < row["percent_of_matmul"] and row["peak_mib"] > 0
