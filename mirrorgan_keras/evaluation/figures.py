"""Figures of generated images: captioned sample sheets, the stages side by side and
word-attention maps over them (uint8 images in, uint8 figure out)."""

from __future__ import annotations

import textwrap

import numpy as np
from PIL import Image, ImageDraw

LABEL_HEIGHT = 14  # one line of PIL's default font
CHAR_WIDTH = 6  # of that font, for wrapping captions
PAD = 2
WORD_GAP = 4  # pixels between caption words: the default font's own space (2 px) reads as none
UNATTENDED_BRIGHTNESS = 0.3  # brightness of a pixel with zero attention in the overlays


def upsample(image: np.ndarray, size: int, resample=Image.NEAREST) -> np.ndarray:
    """uint8 ``[s, s, 3]`` or float ``[s, s]`` → ``[size, size(, 3)]`` (PIL resize)."""
    if image.ndim == 2:
        resized = Image.fromarray(image.astype(np.float32), mode="F").resize((size, size),
                                                                              resample)
        return np.asarray(resized)
    return np.asarray(Image.fromarray(image).resize((size, size), resample))


def attention_overlay(image: np.ndarray, attention: np.ndarray) -> np.ndarray:
    """The image dimmed where a word is not attended: uint8 ``[S, S, 3]`` and one word's map
    float ``[s, s]`` (any scale, upsampled bilinearly, divided by its maximum) → uint8."""
    heat = upsample(attention, image.shape[0], Image.BILINEAR)
    heat = heat / max(float(heat.max()), 1e-12)
    brightness = UNATTENDED_BRIGHTNESS + (1.0 - UNATTENDED_BRIGHTNESS) * heat
    return (image.astype(np.float32) * brightness[..., None]).round().astype(np.uint8)


def attention_figure(stages: list[np.ndarray], attention: list[np.ndarray],
                     tokens: list[str], cell: int = 128) -> np.ndarray:
    """The papers' attention figure for one caption, as uint8 ``[H, W, 3]``.

    Row 0: the image of every stage. Row i (one per refinement stage): for each word, the
    image of stage i with that word's attention map over it, the word written below.

    Args:
        stages: uint8 ``[S_i, S_i, 3]`` per stage, smallest first.
        attention: float ``[T, s_i, s_i]`` per refinement stage (stage 1 on).
        tokens: the caption's T tokens, "" for padding (padding columns are left out).
        cell: side of each panel in pixels (at least the largest stage's).
    """
    cell = max(cell, max(image.shape[0] for image in stages))
    words = [word for word in tokens if word]
    rows = [[(upsample(image, cell), f"{image.shape[0]}x{image.shape[0]}") for image in stages]]
    for stage, maps in enumerate(attention, start=1):
        image = upsample(stages[stage], cell)
        rows.append([(attention_overlay(image, maps[j]), word) for j, word in enumerate(words)])
    return _labelled_grid(rows, cell)


def _labelled_grid(rows: list[list[tuple[np.ndarray, str]]], cell: int) -> np.ndarray:
    """Tiles ``(image [cell, cell, 3], label)`` panels, each label written under its image."""
    columns = max(len(row) for row in rows)
    height = len(rows) * (cell + LABEL_HEIGHT + PAD) + PAD
    figure = Image.new("RGB", (columns * (cell + PAD) + PAD, height), "white")
    draw = ImageDraw.Draw(figure)
    for r, row in enumerate(rows):
        top = PAD + r * (cell + LABEL_HEIGHT + PAD)
        for c, (image, label) in enumerate(row):
            left = PAD + c * (cell + PAD)
            figure.paste(Image.fromarray(image), (left, top))
            draw.text((left + 2, top + cell + 1), label, fill="black")
    return np.asarray(figure)


def _draw_words(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str) -> None:
    """Writes ``text`` in black at ``xy``, its words :data:`WORD_GAP` pixels apart."""
    x, y = xy
    for word in text.split():
        draw.text((x, y), word, fill="black")
        x += draw.textlength(word) + WORD_GAP


def caption_sheet(rows: list[list[np.ndarray]], captions: list[str], *,
                  real_images: list[np.ndarray] | None = None, cell: int = 128) -> np.ndarray:
    """A sample sheet a person can judge without another file, as uint8 ``[H, W, 3]``.

    One block per caption: the caption written above its row; the row holds the generated
    images (e.g. every stage), then, when given, a real image of the caption's class labelled
    "real". Images are nearest-upsampled to ``cell`` (at least the largest image).

    Args:
        rows: per caption, uint8 ``[s, s, 3]`` images.
        captions: the caption of each row.
        real_images: per caption, a uint8 ``[s, s, 3]`` real image, or None.
        cell: side of each panel in pixels.
    """
    if len(rows) != len(captions) or (real_images is not None and len(real_images) != len(rows)):
        raise ValueError(f"{len(rows)} rows, {len(captions)} captions and "
                         f"{'no' if real_images is None else len(real_images)} real images")
    cell = max([cell] + [image.shape[0] for row in rows for image in row])
    columns = max(len(row) for row in rows) + (real_images is not None)
    width = columns * (cell + PAD) + PAD
    chars = max(20, (width - 2 * PAD) // CHAR_WIDTH)
    blocks = []
    for r, row in enumerate(rows):
        lines = textwrap.wrap(captions[r], chars) or [""]
        panels = [upsample(image, cell) for image in row]
        if real_images is not None:
            panels += [np.full((cell, cell, 3), 255, np.uint8)] * (columns - 1 - len(row))
            panels.append(upsample(real_images[r], cell))
        block = Image.new("RGB", (width, len(lines) * LABEL_HEIGHT + cell + PAD), "white")
        draw = ImageDraw.Draw(block)
        for i, line in enumerate(lines):
            _draw_words(draw, (PAD + 2, i * LABEL_HEIGHT + 1), line)
        top = len(lines) * LABEL_HEIGHT
        for c, panel in enumerate(panels):
            block.paste(Image.fromarray(panel), (PAD + c * (cell + PAD), top))
        if real_images is not None:
            left = PAD + (columns - 1) * (cell + PAD)
            draw.rectangle((left, top, left + 4 * CHAR_WIDTH + 3, top + LABEL_HEIGHT - 1),
                           fill="black")
            draw.text((left + 2, top + 1), "real", fill="white")
        blocks.append(np.asarray(block))
    return np.concatenate(blocks, axis=0)


CHART_SIZE = (720, 420)
CHART_MARGIN = (60, 30, 200, 50)  # left, top, right (the legend), bottom
CHART_COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189),
                 (255, 127, 14), (23, 190, 207), (127, 127, 127))


def line_chart(x: list[float], series: dict[str, list[float]], *, title: str,
               x_label: str) -> np.ndarray:
    """Percentages over ``x``: one line (with dots) per entry of ``series`` (values in [0, 1],
    one per x), a 0–100 % axis, the x values as ticks and a legend; uint8 ``[H, W, 3]``."""
    width, height = CHART_SIZE
    left, top, right, bottom = CHART_MARGIN
    image = Image.new("RGB", CHART_SIZE, "white")
    draw = ImageDraw.Draw(image)
    span = (max(x) - min(x)) or 1.0

    def point(x_value, fraction):
        return (left + (x_value - min(x)) / span * (width - left - right),
                height - bottom - fraction * (height - top - bottom))

    for percent in range(0, 101, 20):
        _, y = point(min(x), percent / 100)
        draw.line([(left, y), (width - right, y)], fill=(225, 225, 225))
        draw.text((left - 36, y - 6), f"{percent:>3d} %", fill="black")
    for x_value in x:
        x_pixel, y = point(x_value, 0.0)
        draw.text((x_pixel - 14, y + 6), f"{x_value:,.0f}", fill="black")
    _draw_words(draw, (left, height - 20), x_label)
    _draw_words(draw, (left, 8), title)
    for index, (name, values) in enumerate(series.items()):
        colour = CHART_COLOURS[index % len(CHART_COLOURS)]
        points = [point(a, b) for a, b in zip(x, values, strict=True)]
        draw.line(points, fill=colour, width=2)
        for px, py in points:
            draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
        legend_y = top + 18 * index
        draw.line([(width - right + 12, legend_y + 6), (width - right + 30, legend_y + 6)],
                  fill=colour, width=3)
        _draw_words(draw, (width - right + 36, legend_y), name)
    return np.asarray(image)
