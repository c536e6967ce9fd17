"""Reading one split of an AttnGAN-layout data set into a :class:`DatasetSplit` (docs/design.md §2).

Captions come from ``captions.pickle`` (or MirrorGAN's ``bird_captions.pickle``) when the data
directory has one, so its vocabulary and word ids are used unchanged, and the caption files
are not read (logged once per pickle: delete it after editing captions). Otherwise the caption
files of *both* splits are read (first ``captions_per_image`` captions with words per file),
the vocabulary is built from all of them (every word, as the reference, or those seen
``text.min_word_count`` times) and cached as ``captions.pickle`` in the reference format.

Bad input (see :class:`ReadOptions`): a missing or malformed file raises
:class:`~mirrorgan_keras.data.layout.DatasetLayoutError` naming it, with the expected tree.
Images are checked at read time (decoded with PIL); a bad one raises, or is skipped and
reported with ``skip_bad_images``. A caption file with fewer captions than required raises, or
its captions are repeated with ``repeat_missing_captions``. A caption file that is not text
(:func:`~mirrorgan_keras.data.layout.not_text_reason`) raises before any vocabulary is built. A
few non-UTF-8 bytes are replaced and caption lines without words skipped, both logged and
counted in :class:`ReadReport`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence

import numpy as np

from mirrorgan_keras.config import TextConfig
from mirrorgan_keras.data.layout import (
    DatasetLayout,
    DatasetLayoutError,
    ReadReport,
    complete_captions,
    explain_layout_errors,
    find_bad_images,
    read_captions,
    read_class_ids,
    read_split_keys,
)
from mirrorgan_keras.data.vocabulary import (
    ReferenceCaptions,
    Vocabulary,
    WordCounts,
    read_captions_pickle,
    word_counts,
    write_captions_pickle,
)

logger = logging.getLogger(__name__)

SPLITS = ("train", "test")
CAPTION_PICKLES = ("captions.pickle", "bird_captions.pickle")  # first found is used
LONG_CAPTION_FACTOR = 5  # caption lines over this many times text.words_num are reported
ONE_OFF_WARNING_WORDS = 100  # a vocabulary of this many or more words, most seen once, is warned

Captions = list[list[list[int]]]  # [image][caption][word] word ids
_ANNOUNCED_PICKLES: set[str] = set()  # the caption pickles whose use was logged


@dataclasses.dataclass(frozen=True)
class ReadOptions:
    """How a reader treats bad input (see the module docstring)."""

    validate_images: bool = True  # decode every image with PIL at read time
    skip_bad_images: bool = False  # skip (and report) images that do not decode, else raise
    repeat_missing_captions: bool = False  # repeat a file's captions when too few, else raise


@dataclasses.dataclass(frozen=True)
class DatasetSplit:
    """One split of a data set: N images with their captions, class ids and bounding boxes.

    ``captions[i]`` holds ``captions_per_image`` captions of image i, each a list of word ids
    (>= 1, no padding). ``class_ids`` int32 [N]. ``bboxes`` float64 [N, 4] as (x, y, w, h) in
    pixels (CUB), or None.
    """

    split: str
    keys: list[str]
    image_paths: list[str]
    captions: Captions
    class_ids: np.ndarray
    bboxes: np.ndarray | None
    vocabulary: Vocabulary
    report: ReadReport

    def __len__(self) -> int:
        return len(self.keys)

    def select(self, indices: Sequence[int]) -> DatasetSplit:
        """The images at ``indices``, in that order."""
        return dataclasses.replace(
            self,
            keys=[self.keys[i] for i in indices],
            image_paths=[self.image_paths[i] for i in indices],
            captions=[self.captions[i] for i in indices],
            class_ids=self.class_ids[list(indices)],
            bboxes=None if self.bboxes is None else self.bboxes[list(indices)],
        )

    def interleave_classes(self) -> DatasetSplit:
        """The same images, reordered round-robin over the classes (first image of each class,
        then the second of each, ...), so that consecutive images are of different classes
        wherever the class sizes allow; deterministic."""
        rank_in_class = np.zeros(len(self), np.int64)
        for class_id in np.unique(self.class_ids):
            members = np.flatnonzero(self.class_ids == class_id)
            rank_in_class[members] = np.arange(len(members))
        return self.select(np.lexsort((self.class_ids, rank_in_class)).tolist())


def read_split(
    layout: DatasetLayout,
    data_dir: str,
    split: str,
    text_config: TextConfig,
    *,
    options: ReadOptions,
    read_bboxes: Callable[[list[str]], np.ndarray] | None = None,
) -> DatasetSplit:
    """Reads ``split`` ("train" or "test"); ``read_bboxes(keys)`` gives float64 [N, 4]."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    report = ReadReport()
    with explain_layout_errors(layout, data_dir):
        keys = {name: read_split_keys(data_dir, name) for name in SPLITS}
        if not keys[split]:
            raise DatasetLayoutError(f"{split}/filenames.pickle lists no image")
        vocabulary, captions = load_captions(
            layout, data_dir, keys, text_config, options=options, report=report
        )
        records = DatasetSplit(
            split=split,
            keys=keys[split],
            image_paths=[layout.image_path(data_dir, key) for key in keys[split]],
            captions=captions[split],
            class_ids=read_class_ids(data_dir, split, len(keys[split])),
            bboxes=None if read_bboxes is None else read_bboxes(keys[split]),
            vocabulary=vocabulary,
            report=report,
        )
    return drop_bad_images(records, options.skip_bad_images) if options.validate_images else records


def load_captions(
    layout: DatasetLayout,
    data_dir: str,
    keys: dict[str, list[str]],
    text_config: TextConfig,
    *,
    options: ReadOptions,
    report: ReadReport,
) -> tuple[Vocabulary, dict[str, Captions]]:
    """Vocabulary and per-image captions of both splits, from the pickle or the text files."""
    captions_per_image = text_config.captions_per_image
    for name in CAPTION_PICKLES:
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            _announce_pickle(path)
            reference = read_captions_pickle(path)
            flat = {"train": reference.train, "test": reference.test}
            captions = {
                split: group_captions(flat[split], keys[split], captions_per_image, path=path,
                                      options=options, report=report)
                for split in SPLITS
            }
            return reference.vocabulary, captions
    return build_captions(layout, data_dir, keys, text_config, options=options, report=report)


def _announce_pickle(path: str) -> None:
    """Logs, once per process, that ``path`` replaces the caption files."""
    if path not in _ANNOUNCED_PICKLES:
        _ANNOUNCED_PICKLES.add(path)
        logger.info("captions and vocabulary come from %s; the caption files (text/) are not "
                    "read: delete it to rebuild it from them after editing captions", path)


def group_captions(
    flat: list[list[int]],
    keys: list[str],
    captions_per_image: int,
    *,
    path: str,
    options: ReadOptions,
    report: ReadReport,
) -> Captions:
    """Splits a pickle's flat caption list into ``captions_per_image`` captions per image."""
    if len(flat) != len(keys) * captions_per_image:
        raise DatasetLayoutError(
            f"{path} holds {len(flat)} captions for {len(keys)} images, expected "
            f"{len(keys)} x captions_per_image {captions_per_image}; delete it to rebuild it "
            "from the caption files"
        )
    grouped = []
    for index, key in enumerate(keys):
        own = flat[index * captions_per_image:(index + 1) * captions_per_image]
        grouped.append(complete_captions(
            [caption for caption in own if caption], captions_per_image,
            source=f"{path} (image {key})", repeat_missing=options.repeat_missing_captions,
            report=report,
        ))
    return grouped


def build_captions(
    layout: DatasetLayout,
    data_dir: str,
    keys: dict[str, list[str]],
    text_config: TextConfig,
    *,
    options: ReadOptions,
    report: ReadReport,
) -> tuple[Vocabulary, dict[str, Captions]]:
    """Reads every caption file, builds the vocabulary (words seen ``text.min_word_count``
    times or more; rarer ones are left out of the captions) and caches ``captions.pickle``.
    Over-long caption lines and a vocabulary of mostly one-off words are logged."""
    per_image = text_config.captions_per_image
    long_words = LONG_CAPTION_FACTOR * text_config.words_num
    paths = {split: [layout.text_path(data_dir, key) for key in keys[split]] for split in SPLITS}
    tokens = {split: [read_captions(path, per_image, report, long_words) for path in paths[split]]
              for split in SPLITS}
    counts = word_counts(caption for split in SPLITS for image in tokens[split]
                         for caption in image)
    vocabulary = Vocabulary(counts.at_least(text_config.min_word_count))
    _log_unusual_words(counts, vocabulary, report, long_words)
    rare = (f" (words seen fewer than text.min_word_count={text_config.min_word_count} times "
            "left out)" if text_config.min_word_count > 1 else "")
    captions = {}
    for split in SPLITS:
        captions[split] = []
        for path, image in zip(paths[split], tokens[split], strict=True):
            known = [[word for word in caption if word in vocabulary] for caption in image]
            captions[split].append([vocabulary.lookup(caption) for caption in complete_captions(
                [caption for caption in known if caption], per_image, source=path + rare,
                repeat_missing=options.repeat_missing_captions, report=report,
            )])
    path = os.path.join(data_dir, CAPTION_PICKLES[0])
    flat = {split: [c for image in captions[split] for c in image] for split in SPLITS}
    try:
        write_captions_pickle(path, ReferenceCaptions(vocabulary, flat["train"], flat["test"]))
        logger.info("wrote %s (vocabulary of %d ids)", path, vocabulary.size)
    except OSError as error:
        logger.warning("could not cache the captions as %s: %s", path, error)
    return vocabulary, captions


def _log_unusual_words(counts: WordCounts, vocabulary: Vocabulary, report: ReadReport,
                       long_words: int) -> None:
    """Warns of caption lines over ``long_words`` words (with their count and places) and of a
    vocabulary whose words are mostly seen once; logs the words left out."""
    if report.long_lines:
        shown = ", ".join(report.long_lines[:5])
        more = f" and {len(report.long_lines) - 5} more" if len(report.long_lines) > 5 else ""
        logger.warning("%d caption lines have over %d words (%d x text.words_num; the model "
                       "reads text.words_num of them): %s%s", len(report.long_lines), long_words,
                       LONG_CAPTION_FACTOR, shown, more)
    once = sum(1 for count in counts.values() if count == 1)
    left_out = len(counts) - (vocabulary.size - 2)
    if left_out:
        logger.info("%d of %d words are seen fewer than text.min_word_count times and left out "
                    "of the vocabulary", left_out, len(counts))
    elif once >= ONE_OFF_WARNING_WORDS and 2 * once > len(counts):
        logger.warning("%d of the %d vocabulary words are seen only once in the captions (an "
                       "over-long or garbled caption line gives many): each is an id the "
                       "encoders learn from one caption. --set text.min_word_count=2 leaves "
                       "them out (docs/data.md, Vocabulary)", once, len(counts))


def drop_bad_images(records: DatasetSplit, skip: bool) -> DatasetSplit:
    """Checks every image; raises on bad ones, or with ``skip`` drops and reports them."""
    problems = find_bad_images(records.image_paths)
    if not problems:
        return records
    listing = "\n".join(f"  {path}: {problem}" for path, problem in list(problems.items())[:10])
    more = f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else ""
    if not skip:
        raise DatasetLayoutError(
            f"{len(problems)} of {len(records)} {records.split} images cannot be used:\n"
            f"{listing}{more}\nSkip them with ReadOptions(skip_bad_images=True) (the "
            "training recipes: --skip_bad_images)."
        )
    if len(problems) == len(records):
        raise DatasetLayoutError(f"no {records.split} image can be used:\n{listing}{more}")
    logger.warning("skipping %d %s images that cannot be used:\n%s%s", len(problems),
                   records.split, listing, more)
    records.report.skipped_images.extend(problems)
    return records.select([i for i, p in enumerate(records.image_paths) if p not in problems])
