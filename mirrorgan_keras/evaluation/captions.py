"""Scores a run on captions a user writes (synthetic birds): does each image follow its caption?

The parts and colours each caption names are read from its words (:func:`~mirrorgan_keras.
evaluation.attributes.read_caption`), the run's generator draws ``num_samples`` images of
each caption from fixed noise, and the attribute oracle reads them: per part the share of
images showing the caption's value ("right") and, for crown, wing and belly, the colour the
caption gives another part ("misplaced"), per family of captions and over all of them.

A caption that cannot be scored is reported with its reasons, never silently dropped: a word
outside the run's vocabulary (the generator would drop it), a value word (colour, size) the
reading binds to no part the oracle reads, two values for one part, or no readable attribute.

The swap test: every scored caption naming different crown and belly colours is paired with
the same caption with those two colours exchanged ("a red crown ... a white belly" → "a white
crown ... a red belly", articles adjusted), drawn from the same noise; a pair counts when both
images show their caption's crown and belly.

Typical use::

    model = TextToImage.from_run("runs/demo")
    captions, families = read_caption_file(HELDOUT_PHRASINGS)
    report = score_captions(model, load_oracle(path), captions, families, num_samples=4)
    print(format_caption_report(report))
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from mirrorgan_keras.data.pipeline import from_uint8
from mirrorgan_keras.data.synthetic_birds import COLOUR_PARTS
from mirrorgan_keras.data.text import tokenize
from mirrorgan_keras.evaluation.attributes import (
    NOT_MENTIONED,
    ORACLE_ATTRIBUTES,
    CaptionReading,
    masked_accuracy,
    misplaced_colours,
    predict_attributes,
    read_caption,
    stated_labels,
)

HELDOUT_PHRASINGS = Path(__file__).with_name("heldout_phrasings.txt")
UNTAGGED = "captions"  # the family of a line without one
SWAPPED_PARTS = ("crown", "belly")


def read_caption_file(path: str | Path) -> tuple[list[str], list[str]]:
    """The captions of a text file and their families.

    One caption per line, or ``family<TAB>caption``; empty lines and lines starting with
    ``#`` are skipped. Returns ``(captions, families)``, both of length N; an untagged line's
    family is :data:`UNTAGGED`.
    """
    captions, families = [], []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        family, _, caption = line.rpartition("\t")
        captions.append(caption.strip())
        families.append(family.strip() or UNTAGGED)
    return captions, families


def unreadable_reasons(caption: str, known_words: set[str]) -> tuple[CaptionReading | None,
                                                                    list[str]]:
    """Reads ``caption``; returns its reading (None when contradictory) and why it cannot be
    scored (empty when it can). ``known_words``: the run's vocabulary words."""
    reasons = []
    try:
        reading = read_caption(caption)
    except ValueError as error:
        return None, [f"contradictory: {error}"]
    unknown = sorted({word for word in reading.words if word not in known_words})
    if unknown:
        reasons.append(f"words not in the run's vocabulary: {', '.join(unknown)}")
    if reading.unread:
        reasons.append(f"value words read as no part's: {', '.join(reading.unread)}")
    if not reading.attributes:
        reasons.append("names no attribute the oracle reads "
                       f"({', '.join(ORACLE_ATTRIBUTES)})")
    return reading, reasons


def swapped_caption(reading: CaptionReading) -> str:
    """The caption's words with the crown and belly colours exchanged, "a"/"an" before them
    adjusted; the reading must have both."""
    words = list(reading.words)
    first, second = (reading.positions[part] for part in SWAPPED_PARTS)
    words[first], words[second] = words[second], words[first]
    for position in (first, second):
        if position > 0 and words[position - 1] in ("a", "an"):
            words[position - 1] = "an" if words[position][0] in "aeiou" else "a"
    return " ".join(words)


def part_scores(predictions: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> dict:
    """Right and misplaced of images against their captions' labels (both ``{attribute: int
    [M]}``): ``{"images": M, "counted": {attribute: images}, "right": masked_accuracy,
    "misplaced": misplaced_colours}``."""
    return {
        "images": len(labels[ORACLE_ATTRIBUTES[0]]),
        "counted": {name: int(np.sum(labels[name] != NOT_MENTIONED))
                    for name in ORACLE_ATTRIBUTES},
        "right": masked_accuracy(predictions, labels),
        "misplaced": misplaced_colours(predictions, labels),
    }


def swap_follows(original: dict[str, np.ndarray], swapped: dict[str, np.ndarray],
                 labels: dict[str, np.ndarray]) -> np.ndarray:
    """bool ``[M]``: both images of pair m show their caption's crown and belly colours.

    Args:
        original, swapped: oracle predictions ``{attribute: int [M]}`` of the images of the
            captions and of their swapped twins (same noise, row by row).
        labels: the original captions' labels ``{attribute: int [M]}``; the twins' have
            crown and belly exchanged.
    """
    crown, belly = labels["crown"], labels["belly"]
    return ((original["crown"] == crown) & (original["belly"] == belly)
            & (swapped["crown"] == belly) & (swapped["belly"] == crown))


def score_captions(model, oracle: keras.Model, captions: Sequence[str],
                   families: Sequence[str] | None = None, *, num_samples: int = 4,
                   seed: int = 0, batch_size: int = 64) -> dict:
    """Scores a run's generator on ``captions`` with the attribute oracle (module docstring).

    Args:
        model: a :class:`~mirrorgan_keras.models.text_to_image.TextToImage` built in memory
            (``TextToImage.from_run``).
        oracle: the attribute oracle (``{attribute: [B, K]}`` from ``predict_on_batch``).
        captions: N captions; families: their families (default all :data:`UNTAGGED`).
        num_samples: images per caption, each from its own noise; seed: seed of the noise.

    Returns:
        ``{"captions": N, "scored": M, "num_samples", "seed", "unreadable": [{"index",
        "caption", "family", "reasons"}], "families": {family: scores}, "all": scores}``,
        scores as :func:`part_scores` plus ``"captions"`` and ``"swap": {"pairs": P,
        "both_follow": fraction}`` (P = swappable captions × num_samples).
    """
    families = list(families) if families is not None else [UNTAGGED] * len(captions)
    if len(families) != len(captions):
        raise ValueError(f"{len(captions)} captions but {len(families)} families")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    known = _known_words(model.graph, captions)
    scored, unreadable = [], []
    for index, (caption, family) in enumerate(zip(captions, families, strict=True)):
        reading, reasons = unreadable_reasons(caption, known)
        if reasons:
            unreadable.append({"index": index, "caption": caption, "family": family,
                               "reasons": reasons})
        else:
            scored.append((caption, family, reading))
    texts = [caption for caption, _, _ in scored for _ in range(num_samples)]
    noise = _noise(model.graph, len(texts), seed)
    predictions = _predict(model.graph, oracle, texts, noise, batch_size)
    labels = _repeat(stated_labels([reading.attributes for _, _, reading in scored]),
                     num_samples)
    swappable = np.repeat([_swappable(reading) for _, _, reading in scored], num_samples)
    twins = [swapped_caption(reading) for _, _, reading in scored if _swappable(reading)]
    swapped = _predict(model.graph, oracle, [t for t in twins for _ in range(num_samples)],
                       tuple(part[swappable] for part in noise), batch_size)
    follows = np.zeros(len(texts), bool)
    follows[swappable] = swap_follows(_take(predictions, swappable), swapped,
                                      _take(labels, swappable))
    image_families = np.repeat([family for _, family, _ in scored], num_samples)
    groups = {family: image_families == family for family in dict.fromkeys(families)}
    report = {"captions": len(captions), "scored": len(scored), "num_samples": num_samples,
              "seed": seed, "unreadable": unreadable, "families": {}}
    for name, rows in [*groups.items(), ("all", np.ones(len(texts), bool))]:
        scores = _group_scores(predictions, labels, rows, swappable, follows, num_samples)
        if name == "all":
            report["all"] = scores
        else:
            report["families"][name] = scores
    return report


def _group_scores(predictions, labels, rows, swappable, follows, num_samples) -> dict:
    """:func:`part_scores` of the images ``rows`` (bool [M]), with captions and swap test."""
    pairs = int(np.sum(rows & swappable))
    return {
        "captions": int(np.sum(rows)) // num_samples,
        **part_scores(_take(predictions, rows), _take(labels, rows)),
        "swap": {"pairs": pairs,
                 "both_follow": float(np.mean(follows[rows & swappable])) if pairs else
                 float("nan")},
    }


def _swappable(reading: CaptionReading) -> bool:
    """Names crown and belly, in different colours."""
    colours = [reading.attributes.get(part) for part in SWAPPED_PARTS]
    return None not in colours and colours[0] != colours[1]


def _known_words(graph, captions: Sequence[str]) -> set[str]:
    """The words of ``captions`` that the graph's tokenizer knows."""
    words = sorted({word for caption in captions for word in tokenize(caption)})
    counts = graph.known_word_counts(tf.constant(words, tf.string, shape=[len(words)]))
    return {word for word, count in zip(words, counts.numpy(), strict=True) if count}


def _noise(graph, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Generator noise float32 ``[count, z_dim]`` and conditioning noise ``[count,
    condition_dim]`` from ``seed``."""
    generator = graph.models.generator
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((count, generator.z_dim), np.float32),
            rng.standard_normal((count, generator.condition_dim), np.float32))


def _predict(graph, oracle, texts: list[str], noise, batch_size: int) -> dict[str, np.ndarray]:
    """The oracle's labels ``{attribute: int [N]}`` of the images drawn from ``texts`` [N]
    with ``noise`` (two arrays ``[N, ...]``)."""

    def batches():
        for start in range(0, len(texts), batch_size):
            stop = start + batch_size
            images = graph.generate_from_noise(
                tf.constant(texts[start:stop], tf.string, shape=[len(texts[start:stop])]),
                noise[0][start:stop], noise[1][start:stop])["images"]
            yield from_uint8(images.numpy())

    if not texts:
        return {name: np.zeros(0, np.int64) for name in ORACLE_ATTRIBUTES}
    return predict_attributes(oracle, batches(), batch_size)


def _repeat(labels: dict[str, np.ndarray], times: int) -> dict[str, np.ndarray]:
    return {name: np.repeat(value, times) for name, value in labels.items()}


def _take(values: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: np.asarray(value)[rows] for name, value in values.items()}


def format_caption_report(report: dict) -> str:
    """:func:`score_captions`' report as a table: per family (and all) the captions, right /
    misplaced of crown, wing and belly, the mean over the parts counted and the swap test;
    then the captions that were not scored, with their reasons."""
    header = (f"{'family':<22} {'captions':>8} "
              + " ".join(f"{part + ' right/mispl.':>20}" for part in COLOUR_PARTS)
              + f" {'mean':>6} {'swap':>12}")
    lines = [f"{report['scored']} of {report['captions']} captions scored, "
             f"{report['num_samples']} images each (seed {report['seed']})", header]
    rows = [*report["families"].items(), ("all", report["all"])]
    for name, scores in rows:
        parts = " ".join(
            f"{_percent(scores['right'][part]):>9} / {_percent(scores['misplaced'][part]):>8}"
            for part in COLOUR_PARTS)
        swap = scores["swap"]
        lines.append(f"{name:<22} {scores['captions']:>8} {parts} "
                     f"{_percent(scores['right']['mean']):>6} "
                     f"{_percent(swap['both_follow']):>6} of {swap['pairs']:<3}")
    if report["unreadable"]:
        lines += ["", f"Not scored ({len(report['unreadable'])}):"]
        lines += [f"  [{entry['family']}] {entry['caption']!r}: {'; '.join(entry['reasons'])}"
                  for entry in report["unreadable"]]
    return "\n".join(lines)


def _percent(value: float) -> str:
    return "-" if np.isnan(value) else f"{100 * value:.1f}%"
