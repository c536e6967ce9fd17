"""Imports TensorFlow without its C++ start-up lines, for the recipes and benchmarks.

Import this module first, before anything imports TensorFlow::

    import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: TF's start-up lines)

It sets ``TF_CPP_MIN_LOG_LEVEL`` to 3 unless the user set it, which silences the C++ errors
that are noise on a machine without a GPU (``failed call to cuInit``, oneDNN falling back to
Eigen for an op). Then it imports TensorFlow with the lines its libraries log while they load
filtered by that level: TensorFlow 2.21 logs those (``oneDNN custom operations are on``,
``Could not find cuda drivers``, once per library, after ``WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR``) before it applies
``TF_CPP_MIN_LOG_LEVEL``, so the variable alone does not hide them
(tensorflow/tensorflow#100442). Every other line of the import's stderr is passed on, and
with ``TF_CPP_MIN_LOG_LEVEL=0`` nothing is filtered. Library code does not import this module:
a program that imports the package decides about its own terminal.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
DEFAULT_LEVEL = "3"
SEVERITY_LEVELS = {"I": 0, "W": 1, "E": 2, "F": 3}  # the level that still shows the severity
LOG_LINE = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\]]+\] ")
PRE_INIT_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called"


def hidden_at(line: str, level: int) -> bool:
    """Whether ``TF_CPP_MIN_LOG_LEVEL=level`` hides this line TensorFlow's C++ logs: a
    severity below the level, or absl's notice that precedes the start-up lines (level ≥ 1)."""
    if line.startswith(PRE_INIT_NOTICE):
        return level >= 1
    match = LOG_LINE.match(line)
    return match is not None and SEVERITY_LEVELS[match.group(1)] < level


def import_tensorflow_quietly():
    """Sets the default level and imports TensorFlow as the module docstring says; does
    nothing more when TensorFlow is already imported."""
    level = os.environ.setdefault(LEVEL_VARIABLE, DEFAULT_LEVEL)
    if "tensorflow" in sys.modules or level not in ("1", "2", "3"):
        return
    sys.stderr.flush()
    terminal = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(terminal, 2)
            os.close(terminal)
            captured.seek(0)
            lines = captured.read().decode("utf-8", "replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not hidden_at(line, int(level))))
            sys.stderr.flush()


import_tensorflow_quietly()
