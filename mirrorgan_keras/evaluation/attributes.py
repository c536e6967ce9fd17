"""Attribute accuracy of generated synthetic birds, judged by an independent oracle classifier.

The oracle is a small CNN of its own (5×5 and 3×3 convolutions, ReLU, max pooling, no
normalisation, one softmax head per attribute), trained from scratch on real drawn birds only.
It shares no weights, architecture or training run with DAMSM or STREAM, which the generator
is trained against; a classifier that did would reward images that fool it, not correct birds.

A generated image made from a caption of test image k is scored against image k's labels, but
only on the attributes that caption mentions (:func:`mask_unmentioned`): a caption that says
nothing of the tail cannot be blamed for it. The oracle's accuracy on the real images, with the
same labels, is reported beside it as the ceiling.

Typical use::

    oracle = train_oracle(*draw_labelled_birds(4000))
    keys = synthetic_split_keys(data_dir, "test")
    # captions[i]: the caption of keys[i] that generated[i] was made from
    labels = mask_unmentioned(read_attribute_labels(data_dir, keys), captions)
    report = attribute_report(oracle, read_synthetic_images(data_dir, keys), generated, labels)
    print(format_attribute_report(report))
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence

import keras
import numpy as np
from PIL import Image

from mirrorgan_keras.data.pipeline import from_uint8
from mirrorgan_keras.data.synthetic_birds import (
    ATTRIBUTE_VOCABULARIES,
    COLOUR_PARTS,
    COLOURS,
    BirdAttributes,
    draw_bird,
)
from mirrorgan_keras.data.text import tokenize
from mirrorgan_keras.evaluation._batches import map_batches
from mirrorgan_keras.runtime.run_files import atomic_path

ORACLE_ATTRIBUTES = ("crown", "wing", "belly", "beak", "tail", "pose")
NOT_MENTIONED = -1  # label of an attribute that does not count
ORACLE_SIZE = 64

# The caption language of synthetic_birds.describe_bird, and the phrasings of
# heldout_phrasings.txt: the attributes a noun can name (a colour before "tail" is the wing
# colour, which also paints back and tail; a size is the tail's), the words giving an
# attribute's value (before the noun, or after "its/the <noun> [is/are]"), and the pose words.
_PART_NOUNS = {
    **dict.fromkeys(("crown", "head", "cap", "crowned"), ("crown",)),
    **dict.fromkeys(("wing", "wings", "winged", "back"), ("wing",)),
    **dict.fromkeys(("belly", "breast", "chest", "underside", "abdomen", "bellied"), ("belly",)),
    **dict.fromkeys(("beak", "bill"), ("beak",)),
    "tail": ("tail", "wing"),
}
_VALUE_WORDS = {
    **{part: {colour: colour for colour in COLOURS} for part in ("crown", "wing", "belly")},
    "beak": {**dict.fromkeys(("small", "short", "tiny"), "small"),
             **dict.fromkeys(("large", "long", "big"), "large")},
    "tail": {**dict.fromkeys(("short", "stubby"), "short"), "long": "long"},
}
_POSE_WORDS = {**dict.fromkeys(("perched", "sitting", "resting"), "perched"),
               **dict.fromkeys(("flying", "flight"), "flying")}
_ALL_VALUE_WORDS = frozenset(word for values in _VALUE_WORDS.values() for word in values)
_SKIPPED_ADJECTIVES = ("pointed",)
_DETERMINERS = ("its", "the")
_NOUN_ENDINGS = ("feathers",)
_VERBS = ("is", "are")


# ------------------------------------------------------------------------------------ data


def draw_labelled_birds(num_images: int, image_size: int = ORACLE_SIZE,
                        seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Freshly drawn birds with uniformly random attributes, for training or testing the oracle.

    Any colour combination occurs (also a wing colour equal to the crown's or belly's, which
    the data set's classes avoid), since generated birds may show any.

    Returns:
        images float32 ``[N, S, S, 3]`` in [-1, 1] and labels ``{attribute: int [N]}``.
    """
    rng = np.random.default_rng(seed)
    images = np.empty((num_images, image_size, image_size, 3), np.float32)
    labels = {name: np.empty(num_images, np.int64) for name in ORACLE_ATTRIBUTES}
    for i in range(num_images):
        attributes = BirdAttributes(
            **{name: str(rng.choice(vocab)) for name, vocab in ATTRIBUTE_VOCABULARIES.items()}
        )
        images[i] = from_uint8(draw_bird(attributes, image_size, rng).image)
        for name, label in attributes.labels().items():
            if name in labels:
                labels[name][i] = label
    return images, labels


def _read_metadata(data_dir: str) -> dict:
    """attributes.json of a synthetic birds data set."""
    path = os.path.join(data_dir, "attributes.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path!r} does not exist: {data_dir!r} is no synthetic birds set")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def synthetic_split_keys(data_dir: str, split: str = "test") -> list[str]:
    """Sorted ``"<class_dir>/<name>"`` image keys of a split of a synthetic birds data set."""
    metadata = _read_metadata(data_dir)
    class_dirs = {c["dir"] for c in metadata["classes"] if c["split"] == split}
    if not class_dirs:
        raise ValueError(f"{data_dir!r} has no classes in split {split!r}")
    return sorted(key for key in metadata["labels"] if key.split("/")[0] in class_dirs)


def read_attribute_labels(data_dir: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Labels ``{attribute: int [N]}`` of the images ``keys`` from attributes.json."""
    labels = _read_metadata(data_dir)["labels"]
    missing = [key for key in keys if key not in labels]
    if missing:
        raise KeyError(f"{len(missing)} keys have no labels in {data_dir!r}, e.g. {missing[0]!r}")
    return {name: np.array([labels[key][name] for key in keys]) for name in ORACLE_ATTRIBUTES}


def read_synthetic_images(data_dir: str, keys: Sequence[str]) -> np.ndarray:
    """The data set's images of ``keys`` as float32 ``[N, S, S, 3]`` in [-1, 1]."""
    root = os.path.join(data_dir, "CUB_200_2011", "images")
    images = []
    for key in keys:
        with Image.open(os.path.join(root, key + ".jpg")) as image:
            images.append(from_uint8(np.asarray(image.convert("RGB"))))
    return np.stack(images)


# ---------------------------------------------------------------------------------- oracle


def build_oracle(image_size: int = ORACLE_SIZE, filters: Sequence[int] = (24, 48, 64, 96),
                 kernel_sizes: Sequence[int] = (5, 5, 3, 3), units: int = 128) -> keras.Model:
    """The untrained oracle: images ``[B, H, W, 3]`` in [-1, 1] → ``{attribute: [B, K]}``.

    Antialiased bilinear resize to ``image_size`` → random horizontal flip (training only;
    label-preserving, facing is not judged) → (conv k×k + ReLU → max pool 2) for each
    pair of ``filters`` and ``kernel_sizes`` → flatten → dense ``units`` + ReLU → a softmax
    head per attribute, K = the size of the attribute's vocabulary.
    """
    images = keras.Input((None, None, 3), name="images")
    hidden = keras.layers.Resizing(image_size, image_size, "bilinear", antialias=True)(images)
    hidden = keras.layers.RandomFlip("horizontal")(hidden)
    for width, kernel_size in zip(filters, kernel_sizes, strict=True):
        hidden = keras.layers.Conv2D(width, kernel_size, padding="same", activation="relu")(hidden)
        hidden = keras.layers.MaxPooling2D(2)(hidden)
    hidden = keras.layers.Dense(units, activation="relu")(keras.layers.Flatten()(hidden))
    outputs = {
        name: keras.layers.Dense(len(ATTRIBUTE_VOCABULARIES[name]), activation="softmax",
                                 name=name)(hidden)
        for name in ORACLE_ATTRIBUTES
    }
    return keras.Model(images, outputs, name="attribute_oracle")


def train_oracle(images, labels: dict[str, np.ndarray], *, epochs: int = 15, batch_size: int = 16,
                 learning_rate: float = 1e-3, image_size: int = ORACLE_SIZE,
                 verbose: int = 0) -> keras.Model:
    """Trains a new oracle on real images with Adam and a cross-entropy per attribute head.

    4,000 drawn birds and 15 epochs take about two minutes on 2 CPU cores; 600 birds and 25
    epochs about 30 s, with a lower accuracy. Seed with ``keras.utils.set_random_seed``.

    Args:
        images: float ``[N, H, W, 3]`` in [-1, 1]; labels: ``{attribute: int [N]}`` for every
            attribute of ORACLE_ATTRIBUTES (e.g. from :func:`draw_labelled_birds`).
    """
    oracle = build_oracle(image_size)
    oracle.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss={name: "sparse_categorical_crossentropy" for name in ORACLE_ATTRIBUTES},
    )
    targets = {name: np.asarray(labels[name]) for name in ORACLE_ATTRIBUTES}
    oracle.fit(images, targets, batch_size=batch_size, epochs=epochs, verbose=verbose)
    return oracle


def save_oracle(oracle: keras.Model, path: str) -> None:
    """Saves the oracle to the ``.keras`` file ``path`` (atomically)."""
    if not path.endswith(".keras"):
        raise ValueError(f"the oracle is saved as a .keras file, got {path!r}")
    with atomic_path(path) as staging:
        oracle.save(str(staging))


def load_oracle(path: str) -> keras.Model:
    """Loads an oracle saved by :func:`save_oracle` (without its optimizer)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"oracle file {path!r} does not exist")
    oracle = keras.saving.load_model(path, compile=False)
    if set(oracle.output_names) != set(ORACLE_ATTRIBUTES):
        raise ValueError(f"{path!r} is no attribute oracle: outputs {oracle.output_names}")
    return oracle


# -------------------------------------------------------------------------------- accuracy


def predict_attributes(oracle: keras.Model, images, batch_size: int = 64,
                       verbose: int = 0) -> dict[str, np.ndarray]:
    """The oracle's labels ``{attribute: int [N]}`` of images (array or iterable of batches)."""

    def predict(batch):
        outputs = oracle.predict_on_batch(batch)
        return tuple(np.argmax(outputs[name], axis=-1) for name in ORACLE_ATTRIBUTES)

    predictions = map_batches(predict, images, batch_size, verbose)
    return dict(zip(ORACLE_ATTRIBUTES, predictions, strict=True))


def masked_accuracy(predictions: dict[str, np.ndarray],
                    labels: dict[str, np.ndarray]) -> dict[str, float]:
    """Accuracy per attribute over the labels that are not NOT_MENTIONED, and their mean.

    Returns:
        ``{attribute: accuracy, ..., "mean": mean over attributes}``; an attribute with no
        counted label is NaN and left out of the mean.
    """
    scores = {}
    for name in ORACLE_ATTRIBUTES:
        label = np.asarray(labels[name])
        counted = label != NOT_MENTIONED
        correct = np.asarray(predictions[name])[counted] == label[counted]
        scores[name] = float(correct.mean()) if counted.any() else float("nan")
    counted_scores = [score for score in scores.values() if not np.isnan(score)]
    scores["mean"] = float(np.mean(counted_scores)) if counted_scores else float("nan")
    return scores


def attribute_accuracy(oracle: keras.Model, images, labels: dict[str, np.ndarray], *,
                       batch_size: int = 64, verbose: int = 0) -> dict[str, float]:
    """The oracle's :func:`masked_accuracy` on images ``[N, H, W, 3]`` in [-1, 1]."""
    return masked_accuracy(predict_attributes(oracle, images, batch_size, verbose), labels)


def misplaced_colours(predictions: dict[str, np.ndarray],
                      labels: dict[str, np.ndarray]) -> dict[str, float]:
    """How often a colour part shows the colour the caption gives *another* part.

    A part painted with a colour that is named, but for another part ("a red crown and blue
    wings" drawn with a blue crown) is an error of binding, not of colour: the generator used
    the caption's colours and put them in the wrong places. For each of crown, wing and belly,
    over the images whose labels count that part: the fraction whose oracle colour is wrong
    and equals a counted label of another colour part. The rest of the errors,
    ``1 - accuracy - misplaced``, are colours the caption does not name.

    Args:
        predictions, labels: as for :func:`masked_accuracy`.

    Returns:
        ``{part: fraction}`` for the colour parts (NaN where no label counts).
    """
    misplaced = {}
    for part in COLOUR_PARTS:
        label, predicted = np.asarray(labels[part]), np.asarray(predictions[part])
        counted = label != NOT_MENTIONED
        other_colour = np.zeros_like(counted)
        for other in COLOUR_PARTS:
            if other != part:
                other_label = np.asarray(labels[other])
                other_colour |= (other_label != NOT_MENTIONED) & (predicted == other_label)
        wrong_place = (predicted != label) & other_colour
        misplaced[part] = float(wrong_place[counted].mean()) if counted.any() else float("nan")
    return misplaced


def attribute_report(oracle: keras.Model, real_images, generated_images,
                     labels: dict[str, np.ndarray], *, batch_size: int = 64,
                     verbose: int = 0) -> dict[str, dict]:
    """Accuracy on real images (the ceiling) beside generated ones, against the same labels.

    Args:
        real_images: ``[N, H, W, 3]``, real image i has labels i.
        generated_images: ``[N, H', W', 3]``, made from a caption of real image i.
        labels: ``{attribute: int [N]}``, usually from :func:`mask_unmentioned`.

    Returns:
        ``{"real": scores, "generated": scores, "counted": {attribute: labels counted},
        "misplaced": {colour part: fraction}}``: the scores of :func:`masked_accuracy`, the
        generated images' :func:`misplaced_colours`.
    """
    generated = predict_attributes(oracle, generated_images, batch_size, verbose)
    return {
        "real": attribute_accuracy(oracle, real_images, labels, batch_size=batch_size,
                                   verbose=verbose),
        "generated": masked_accuracy(generated, labels),
        "counted": {
            name: int(np.sum(np.asarray(labels[name]) != NOT_MENTIONED))
            for name in ORACLE_ATTRIBUTES
        },
        "misplaced": misplaced_colours(generated, labels),
    }


def format_attribute_report(report: dict[str, dict]) -> str:
    """:func:`attribute_report` as a text table: attribute, counted images, real, generated,
    and for the colour parts the generated images' misplaced colours."""
    lines = [f"{'attribute':<10} {'images':>7} {'real':>6} {'generated':>9} {'misplaced':>9}"]
    for name in ORACLE_ATTRIBUTES:
        misplaced = report["misplaced"].get(name)
        lines.append(f"{name:<10} {report['counted'][name]:>7} {report['real'][name]:>6.3f} "
                     f"{report['generated'][name]:>9.3f}"
                     + ("" if misplaced is None else f" {misplaced:>9.3f}"))
    lines.append(f"{'mean':<10} {'':>7} {report['real']['mean']:>6.3f} "
                 f"{report['generated']['mean']:>9.3f}")
    return "\n".join(lines)


# -------------------------------------------------------------------------------- captions


@dataclasses.dataclass(frozen=True)
class CaptionReading:
    """What :func:`read_caption` reads in one caption.

    Attributes:
        words: the caption's tokens (:func:`~mirrorgan_keras.data.text.tokenize`), length W.
        attributes: ``{attribute: value}`` the caption states, e.g. ``{"crown": "red"}``.
        positions: ``{attribute: index into words}`` of the word giving each value (its
            first mention).
        unread: the value words (colours, sizes) that give no attribute's value, in order.
    """

    words: tuple[str, ...]
    attributes: dict[str, str]
    positions: dict[str, int]
    unread: tuple[str, ...]


def read_caption(caption: str) -> CaptionReading:
    """Reads the attribute values a caption states, and where, from its words.

    Recognised around a part noun (crown, head, cap, wings, back, belly, breast, ..., beak,
    tail; "wing/tail feathers"): "<value> [pointed] <noun>" ("a red cap", "blue wing
    feathers", "a red crowned bird", "a short pointed bill", "long tail feathers"; a colour
    before "back", "winged" or "tail" is the wings'), "<value> on the/its <noun>" ("red on
    the crown"), "its/the <noun> [is/are] <value>" ("its crown is red", "the wings are
    blue", "with its belly white"); and "mostly <colour>" (the wings) and the pose words
    (perched, sitting, resting; flying, flight). Size words map to the attribute's values:
    a short beak is "small".

    Raises:
        ValueError: the caption states two values of one attribute.
    """
    words = tokenize(caption)
    found: dict[str, str] = {}
    positions: dict[str, int] = {}
    used = set()
    for i in range(len(words)):
        mention = _mention_at(words, i)
        if mention is None:
            continue
        name, value, position = mention
        if found.setdefault(name, value) != value:
            raise ValueError(f"caption {caption!r} says {name} is {found[name]} and {value}")
        positions.setdefault(name, position)
        used.add(position)
    unread = tuple(w for j, w in enumerate(words) if j not in used and w in _ALL_VALUE_WORDS)
    return CaptionReading(tuple(words), found, positions, unread)


def mentioned_attributes(caption: str) -> dict[str, str]:
    """The attribute values a caption states, e.g. ``{"crown": "red"}`` (see
    :func:`read_caption`, which also says where).

    Raises:
        ValueError: the caption states two values of one attribute.
    """
    return read_caption(caption).attributes


def _mention_at(words: list[str], i: int) -> tuple[str, str, int] | None:
    """(attribute, value, index of the value word) stated around ``words[i]`` when it is a
    pose word or a part noun."""
    word = words[i]
    if word in _POSE_WORDS:
        return "pose", _POSE_WORDS[word], i
    if word == "mostly" and i + 1 < len(words) and words[i + 1] in COLOURS:
        return "wing", words[i + 1], i + 1
    for name in _PART_NOUNS.get(word, ()):
        at = _value_before(words, i, name)
        at = _value_after(words, i, name) if at is None else at
        if at is not None:
            return name, _VALUE_WORDS[name][words[at]], at
    return None


def _value_before(words: list[str], i: int, name: str) -> int | None:
    """Index of the word before the noun ``words[i]`` giving attribute ``name``'s value:
    "<value> [pointed] <noun>" or "<value> on the/its <noun>"."""
    before = i - 1
    while before >= 0 and words[before] in _SKIPPED_ADJECTIVES:
        before -= 1
    if before >= 2 and words[before] in _DETERMINERS and words[before - 1] == "on":
        before -= 2
    return before if before >= 0 and words[before] in _VALUE_WORDS[name] else None


def _value_after(words: list[str], i: int, name: str) -> int | None:
    """Index of the value in "its/the <noun words[i]> [feathers] [is/are] <value>" (without
    the verb only after "its": "with its crown red")."""
    if i < 1 or words[i - 1] not in _DETERMINERS:
        return None
    after = i + 1
    if after < len(words) and words[after] in _NOUN_ENDINGS:
        after += 1
    if after < len(words) and words[after] in _VERBS:
        after += 1
    elif words[i - 1] != "its":
        return None
    return after if after < len(words) and words[after] in _VALUE_WORDS[name] else None


def caption_labels(captions: Sequence[str]) -> dict[str, np.ndarray]:
    """Labels ``{attribute: int [N]}`` the captions state, NOT_MENTIONED where they are silent."""
    return stated_labels([mentioned_attributes(caption) for caption in captions])


def stated_labels(statements: Sequence[dict[str, str]]) -> dict[str, np.ndarray]:
    """Labels ``{attribute: int [N]}`` of N ``{attribute: value}`` dicts (e.g. of
    :func:`mentioned_attributes`), NOT_MENTIONED where a dict has no value."""
    labels = {name: np.full(len(statements), NOT_MENTIONED) for name in ORACLE_ATTRIBUTES}
    for i, statement in enumerate(statements):
        for name, value in statement.items():
            labels[name][i] = ATTRIBUTE_VOCABULARIES[name].index(value)
    return labels


def mask_unmentioned(labels: dict[str, np.ndarray],
                     captions: Sequence[str]) -> dict[str, np.ndarray]:
    """Image labels with NOT_MENTIONED where the image's caption does not mention the attribute.

    Args:
        labels: ``{attribute: int [N]}`` of the real images; captions: ``[N]``, caption i
            describes image i (the generated image i was made from it).

    Raises:
        ValueError: a caption states a value other than its image's label (misaligned inputs).
    """
    stated = caption_labels(captions)
    masked = {}
    for name in ORACLE_ATTRIBUTES:
        label = np.asarray(labels[name])
        if label.shape != (len(captions),):
            raise ValueError(f"labels[{name!r}] has shape {label.shape}, captions {len(captions)}")
        mentioned = stated[name] != NOT_MENTIONED
        wrong = np.flatnonzero(mentioned & (stated[name] != label))
        if len(wrong):
            i = wrong[0]
            raise ValueError(
                f"caption {i} {captions[i]!r} says {name} is "
                f"{ATTRIBUTE_VOCABULARIES[name][stated[name][i]]}, but its image's label is "
                f"{ATTRIBUTE_VOCABULARIES[name][label[i]]}: are captions and labels aligned?"
            )
        masked[name] = np.where(mentioned, label, NOT_MENTIONED)
    return masked
