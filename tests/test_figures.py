import numpy as np
import pytest

from mirrorgan_keras.evaluation.figures import WORD_GAP, caption_sheet


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
