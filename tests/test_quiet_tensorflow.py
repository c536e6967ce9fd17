"""The recipes' terminal: TensorFlow's C++ start-up lines are filtered by the log level."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from mirrorgan_keras.runtime.quiet_tensorflow import hidden_at

ROOT = Path(__file__).resolve().parents[1]
NOISE = ("oneDNN custom operations", "cuda drivers", "cuInit", "absl::InitializeLog")
SCRIPT = """
import warnings
import mirrorgan_keras.runtime.quiet_tensorflow
import tensorflow as tf
print(int(tf.constant(1) + 1))
warnings.warn("a warning that matters")
"""


@pytest.mark.parametrize(("line", "level", "hidden"), [
    ("I0000 00:00:1796208713.177765    5400 port.cc:153] oneDNN custom operations are on.", 1,
     True),
    ("I0000 00:00:1796208713.177765    5400 port.cc:153] oneDNN custom operations are on.", 0,
     False),
    ("W0000 00:00:1796208713.177765    5400 x.cc:1] a warning", 1, False),
    ("E0000 00:00:1796208715.262020    5400 cuda_platform.cc:52] failed call to cuInit", 2,
     False),
    ("E0000 00:00:1796208715.262020    5400 cuda_platform.cc:52] failed call to cuInit", 3,
     True),
    ("I1202 10:54:08.042823 140274921999232 records.py:204] wrote captions.pickle", 1, True),
    ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
     1, True),
    ("Traceback (most recent call last):", 3, False),
    ("<string>:6: UserWarning: a warning that matters", 3, False),
])
def test_lines_are_hidden_below_the_level(line, level, hidden):
    assert hidden_at(line, level) == hidden


def run(env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=300, cwd=ROOT, env={"PATH": "/usr/bin:/bin", **env})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "2"
    return result


def test_tensorflow_starts_quietly_and_warnings_that_matter_stay():
    result = run({})
    assert not [marker for marker in NOISE if marker in result.stdout + result.stderr]
    assert "UserWarning: a warning that matters" in result.stderr


FAKE_TENSORFLOW = """
import os
for line in ("WARNING: All log messages before absl::InitializeLog() is called are written",
             "I0000 00:00:1796208713.177765    5400 port.cc:153] start-up information",
             "E0000 00:00:1796208715.262020    5400 cuda_platform.cc:52] start-up error",
             "an ordinary line"):
    os.write(2, (line + "\\n").encode())  # as the C++ libraries write: to file descriptor 2
"""


@pytest.mark.parametrize(("level", "shown"), [
    (None, ["an ordinary line"]),
    ("2", ["start-up error", "an ordinary line"]),
    ("0", ["absl::InitializeLog", "start-up information", "start-up error", "an ordinary line"]),
])
def test_the_import_is_filtered_at_the_level_the_user_set_or_3(tmp_path, level, shown):
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(FAKE_TENSORFLOW)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)}
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    script = "import mirrorgan_keras.runtime.quiet_tensorflow; import tensorflow"
    result = subprocess.run([sys.executable, "-c", script],
                            capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == len(shown)
    assert all(text in line for text, line in zip(shown, lines, strict=True))


@pytest.mark.parametrize("recipe", sorted((ROOT / "recipes").glob("*.py")), ids=lambda p: p.name)
def test_recipes_import_the_quiet_start_first(recipe):
    first = next(node for node in ast.parse(recipe.read_text()).body
                 if isinstance(node, (ast.Import, ast.ImportFrom)))
    assert isinstance(first, ast.Import)
    assert [alias.name for alias in first.names] == ["mirrorgan_keras.runtime.quiet_tensorflow"]
