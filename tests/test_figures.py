import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mirrorgan_keras.evaluation.figures import (
    CHART_COLOURS,
    CHART_MARGIN,
    CHART_SIZE,
    WORD_GAP,
    caption_sheet,
    line_chart,
)

ROOT = Path(__file__).resolve().parents[1]
ENV = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}


def test_caption_sheet_writes_each_caption_above_its_row_with_the_real_image_last():
    small = np.full((2, 2, 3), 10, np.uint8)
    large = np.full((4, 4, 3), 200, np.uint8)
    real = np.full((8, 8, 3), 90, np.uint8)
    long_caption = "this bird has a red crown and"  # 20 characters a line: wraps once
    sheet = caption_sheet([[small, large], [small, large]], ["a blue bird", long_caption],
                          real_images=[real, real], cell=16)
    width = 3 * (16 + 2) + 2
    assert sheet.shape == (14 + 16 + 2 + 2 * 14 + 16 + 2, width, 3)
    assert np.any(sheet[:14] < 128)  # the first caption's text is drawn above its row
    row = sheet[14:30]
    assert np.all(row[:, 2:18] == 10) and np.all(row[:, 20:36] == 200)  # stages, upsampled
    assert np.all(row[-2:, -18:-2] == 90)  # the real image (its label sits at the top-left)
    assert np.all(sheet[-18:-2, 2:18] == 10)  # the second row, below its two text lines


def test_caption_sheet_without_real_images_and_mismatched_lengths():
    image = np.zeros((4, 4, 3), np.uint8)
    assert caption_sheet([[image]], ["x"], cell=4).shape == (14 + 4 + 2, 4 + 4, 3)
    with pytest.raises(ValueError, match="2 rows, 1 captions"):
        caption_sheet([[image], [image]], ["x"])


def test_caption_sheet_leaves_a_readable_gap_between_words():
    image = np.zeros((4, 4, 3), np.uint8)
    words = ["wing", "feathers", "a", "brown", "breast"]
    sheet = caption_sheet([[image]], [" ".join(words)], cell=200)
    ink = np.any(sheet[:14] < 128, axis=(0, 2))  # columns of the caption line with text
    columns = np.flatnonzero(ink)
    blank_runs = np.diff(columns) - 1  # blank columns between consecutive inked ones
    assert np.sum(blank_runs >= WORD_GAP) == len(words) - 1


def test_line_chart_puts_each_value_at_its_height_in_its_series_colour():
    chart = line_chart([0, 10], {"a": [0.0, 1.0], "b": [0.5, 0.5]}, title="t", x_label="steps")
    assert chart.shape == (CHART_SIZE[1], CHART_SIZE[0], 3) and chart.dtype == np.uint8
    left, top, right, bottom = CHART_MARGIN
    plot_bottom, plot_right = CHART_SIZE[1] - bottom, CHART_SIZE[0] - right
    middle = (top + plot_bottom) // 2
    assert tuple(chart[plot_bottom, left]) == CHART_COLOURS[0]  # a at x=0: 0 %
    assert tuple(chart[top, plot_right]) == CHART_COLOURS[0]  # a at x=10: 100 %
    assert tuple(chart[middle, (left + plot_right) // 2]) == CHART_COLOURS[1]  # b: 50 % all along


def test_plot_curve_recipe_tabulates_and_draws_the_score_files(tmp_path):
    scores = tmp_path / "scores"
    scores.mkdir()
    for step, top1 in ((100, 0.25), (200, 0.5)):
        test = {"r_precision": {"top1": top1}, "attributes": {"generated": {
            "crown": 0.1, "wing": 0.2, "belly": 0.3}}}
        (scores / f"test_{step}.json").write_text(json.dumps(test))
    heldout = {"all": {"right": {"mean": 0.4}, "swap": {"both_follow": 0.05}}}
    (scores / "heldout_200.json").write_text(json.dumps(heldout))
    output = tmp_path / "curve.png"
    result = subprocess.run([sys.executable, str(ROOT / "recipes" / "plot_curve.py"),
                             f"--scores={scores}", f"--output={output}"],
                            capture_output=True, text=True, timeout=300, env=ENV)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| 100 | 25.0 % | 10.0 % | 20.0 % | 30.0 % | – | – |" in result.stdout
    assert "| 200 | 50.0 % | 10.0 % | 20.0 % | 30.0 % | 40.0 % | 5.0 % |" in result.stdout
    assert np.asarray(Image.open(output)).shape == (CHART_SIZE[1], CHART_SIZE[0], 3)
