import json
import subprocess
import sys
from pathlib import Path

import pytest

from mirrorgan_keras.runtime.precision import cpu_has_native_bfloat16
from mirrorgan_keras.training.cli import parse_overrides
from tests.test_quiet_tensorflow import NOISE

ROOT = Path(__file__).resolve().parents[1]
ENV = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}  # the recipes import this checkout


def test_parse_overrides_reads_literals_and_strings():
    assert parse_overrides(["train.batch_size=8", "damsm.weights=None", "data.data_dir=/x/y",
                            "generator.sentence_attention=False", "train.lambda_stream=1e1"]) == {
        "train.batch_size": 8, "damsm.weights": None, "data.data_dir": "/x/y",
        "generator.sentence_attention": False, "train.lambda_stream": 10.0,
    }


def test_parse_overrides_rejects_missing_value():
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["train.batch_size"])


@pytest.mark.slow
def test_train_synthetic_birds_recipe_runs_every_stage(tmp_path):
    """The recipe generates the data, pretrains both encoders and trains, from flags alone,
    and prints none of TensorFlow's C++ start-up lines."""
    command = [
        sys.executable, str(ROOT / "recipes" / "train_synthetic_birds.py"),
        f"--data_dir={tmp_path / 'data'}", f"--run_dir={tmp_path / 'run'}",
        "--num_train=24", "--num_test=12", "--steps=2", "--checkpoint_every=1",
        "--sample_every=2", "--verbose=0", "--batch_size=4",
        "--set=damsm.batch_size=4", "--set=stream.batch_size=4", "--set=damsm.epochs=1",
        "--set=stream.epochs=1", "--set=generator.ngf=4", "--set=discriminator.ndf=4",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            env=ENV)  # the recipe's own log level
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"steps": 2' in result.stdout
    noise = [marker for marker in NOISE if marker in result.stdout + result.stderr]
    assert not noise, result.stderr[-3000:]  # nor from the synthetic birds' worker processes
    assert (tmp_path / "run" / "generator_ema.weights.h5").exists()
    assert (tmp_path / "run" / "samples" / "step_0000002.png").exists()


@pytest.mark.slow
def test_demo_runs_every_phase_and_closes_with_its_report(tmp_path):
    """The demo on a tiny set: its encoder reports (image dependence, colour swaps), a closing
    report, the captioned sample sheet and metrics.json, and no C++ log lines."""
    command = [
        sys.executable, str(ROOT / "recipes" / "demo.py"),
        f"--data_dir={tmp_path / 'data'}", f"--run_dir={tmp_path / 'run'}",
        "--num_train=24", "--num_test=12", "--image_size=64", "--damsm_epochs=1",
        "--stream_epochs=1", "--gan_steps=2", "--report_images=12", "--rows=2", "--verbose=0",
        "--set=train.batch_size=4", "--set=damsm.batch_size=4", "--set=stream.batch_size=4",
        "--set=generator.ngf=4", "--set=discriminator.ndf=4",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "image_dependence" in out and "WARNING: STREAM's image_dependence" in out  # 1 epoch
    assert "DAMSM prefers the true caption to one with two colours swapped" in out
    assert "STREAM prefers the true caption to one with two colours swapped" in out
    assert "R-precision top-1" in out
    assert "python recipes/evaluate.py --run_dir" in out
    assert ("MirrorGAN trains in bfloat16" in out) == cpu_has_native_bfloat16()
    noise = [marker for marker in NOISE if marker in out + result.stderr]
    assert not noise, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["phase_seconds"]) == {"data", "damsm", "stream", "mirrorgan", "report",
                                             "total"}
    for encoder in ("damsm", "stream"):
        assert 0.0 <= metrics[encoder]["colour_swaps"]["preference"] <= 1.0
    assert metrics["r_precision"]["top1"] >= 0.0 and "stream_ce_generated" in metrics[
        "redescription"]
    assert (tmp_path / "run" / "samples.png").exists()


@pytest.mark.parametrize("recipe", ["train_cub.py", "train_coco.py", "pretrain_damsm.py",
                                    "pretrain_stream.py", "train_synthetic_birds.py",
                                    "demo.py"])
def test_recipes_document_their_flags(recipe):
    result = subprocess.run([sys.executable, str(ROOT / "recipes" / recipe), "--helpshort"],
                            capture_output=True, text=True, timeout=120,
                            env={**ENV, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 1, result.stderr[-2000:]  # absl exits 1 after printing help
    assert "  --preset:" in result.stdout and "  --strategy:" in result.stdout


@pytest.mark.parametrize("recipe, flag", [("evaluate.py", "--num_images"),
                                          ("export.py", "--export_dir"),
                                          ("generate.py", "--[no]attention"),
                                          ("ablation.py", "--variants"),
                                          ("convert_torch.py", "--discriminators"),
                                          ("record_vocabulary.py", "--data_dir")])
def test_serving_and_evaluation_recipes_document_their_flags(recipe, flag):
    result = subprocess.run([sys.executable, str(ROOT / "recipes" / recipe), "--helpshort"],
                            capture_output=True, text=True, timeout=120,
                            env={**ENV, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"  {flag}:" in result.stdout


@pytest.mark.parametrize("flag, named", [("--set=generator.ngf=abc", "generator.ngf: expected"),
                                         ("--set=generator.ngf", "--set expects KEY=VALUE, got "
                                                                 "'generator.ngf'"),
                                         ("--set=train.batch_size=8.5", "train.batch_size: "),
                                         ("--batch_size=0", "--batch_size=0"),
                                         ("--steps=0", "--steps=0")])
def test_a_bad_value_stops_a_recipe_before_it_writes_anything(tmp_path, flag, named):
    command = [sys.executable, str(ROOT / "recipes" / "train_synthetic_birds.py"),
               f"--data_dir={tmp_path / 'data'}", f"--run_dir={tmp_path / 'run'}", flag]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                            env={**ENV, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode != 0 and named in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("recipe, flags", [
    ("generate.py", ["--model=nowhere", "--caption=a red bird", "--samples=0"]),
    ("export.py", ["--run_dir=nowhere", "--version=0"]),
])
def test_counting_flags_of_the_serving_recipes_have_lower_bounds(recipe, flags):
    result = subprocess.run([sys.executable, str(ROOT / "recipes" / recipe), *flags],
                            capture_output=True, text=True, timeout=120,
                            env={**ENV, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode != 0 and flags[-1].split("=")[0] in result.stderr, result.stderr


def test_the_demo_says_its_own_default_run_directory():
    result = subprocess.run([sys.executable, str(ROOT / "recipes" / "demo.py"), "--helpfull"],
                            capture_output=True, text=True, timeout=120,
                            env={**ENV, "TF_CPP_MIN_LOG_LEVEL": "2"})
    help_text = result.stdout[result.stdout.index("--run_dir"):][:200]
    assert "runs/demo" in help_text and "runs/<preset>" not in help_text
