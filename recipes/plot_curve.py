"""Draws how a run's scores change with its GAN steps, from the score files of
``recipes/evaluate.py`` taken at several steps (docs/experiments.md, "The curve"):

    python recipes/plot_curve.py --scores runs/curve/scores --output docs/curve.png

``--scores`` holds ``test_<steps>.json`` (``evaluate.py --num_images 600 --output ...``) and,
where present, ``heldout_<steps>.json`` (``evaluate.py --captions heldout --output ...``). Prints
the numbers as a Markdown table and writes the chart: R-precision top-1, the oracle's crown /
wing / belly on the test captions, the held-out phrasings' mean and their swap test.
"""

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

import json
import re
from pathlib import Path

import numpy as np
from absl import app, flags
from PIL import Image

from mirrorgan_keras.evaluation.figures import line_chart

flags.DEFINE_string("scores", None, "Directory of test_<steps>.json / heldout_<steps>.json.",
                    required=True)
flags.DEFINE_string("output", None, "The PNG to write.", required=True)
FLAGS = flags.FLAGS


def read_scores(directory: Path) -> tuple[list[int], dict[str, list[float]]]:
    """The steps found and, per measure, its value at each (NaN where a file is missing)."""
    steps = sorted(int(re.search(r"\d+", path.stem).group()) for path in
                   directory.glob("test_*.json"))
    series = {name: [] for name in ("R-precision top-1", "crown", "wing", "belly",
                                    "held-out mean", "held-out swap")}
    for step in steps:
        test = json.loads((directory / f"test_{step}.json").read_text())
        series["R-precision top-1"].append(test["r_precision"]["top1"])
        for part in ("crown", "wing", "belly"):
            series[part].append(test["attributes"]["generated"][part])
        heldout_path = directory / f"heldout_{step}.json"
        heldout = json.loads(heldout_path.read_text())["all"] if heldout_path.exists() else None
        series["held-out mean"].append(heldout["right"]["mean"] if heldout else float("nan"))
        series["held-out swap"].append(heldout["swap"]["both_follow"] if heldout else float("nan"))
    return steps, series


def main(argv):
    del argv
    steps, series = read_scores(Path(FLAGS.scores))
    if not steps:
        raise SystemExit(f"no test_<steps>.json in {FLAGS.scores}")
    print("| steps | " + " | ".join(series) + " |")
    print("|---" * (len(series) + 1) + "|")
    for index, step in enumerate(steps):
        print(f"| {step:,} | " + " | ".join(_percent(values[index])
                                             for values in series.values()) + " |")
    drawn = {name: values for name, values in series.items() if not np.isnan(values).any()}
    chart = line_chart(steps, drawn, title="the demo's run continued (seed 0)",
                       x_label="GAN steps (batch 32)")
    Image.fromarray(chart).save(FLAGS.output)
    print(f"written to {FLAGS.output}")


def _percent(value: float) -> str:
    return "–" if np.isnan(value) else f"{100 * value:.1f} %"


if __name__ == "__main__":
    app.run(main)
