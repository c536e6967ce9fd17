"""Files of the AttnGAN data layout (docs/design.md §2): layout descriptions, pickles, caption
files, images.

Every reader here raises :class:`DatasetLayoutError` naming the file that is missing or
malformed; :func:`explain_layout_errors` adds the expected directory tree of the data set.
Recoverable problems (a few non-UTF-8 caption bytes, caption lines without words) are logged
and counted in a :class:`ReadReport` instead. A caption file that is not text at all (binary:
:func:`not_text_reason`) raises :class:`NotTextError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pickle
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from mirrorgan_keras.data.text import tokenize

logger = logging.getLogger(__name__)

# Formats that both PIL (validation) and tf.io.decode_image (pipeline) read.
DECODABLE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP")


class DatasetLayoutError(ValueError):
    """A data set file is missing or malformed; the message names the file."""


class MissingFileError(DatasetLayoutError):
    """A data set file is missing (the data set is not there, or not all of it)."""


class NotTextError(DatasetLayoutError):
    """A caption file is not text (binary data, or another encoding than UTF-8)."""


# A text file has no NUL byte, and at most this share of its characters are bytes that are not
# UTF-8 or control characters other than tab, line feed, carriage return, form feed and vertical
# tab (docs/data.md, Bad input).
MAX_UNREADABLE_SHARE = 0.1
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")  # Cc but \t\n\v\f\r


@dataclasses.dataclass(frozen=True)
class DatasetLayout:
    """Where one AttnGAN-layout data set keeps its files, relative to its data directory.

    Images are ``<image_dir>/<key>.jpg`` (any format tf.io.decode_image reads, despite the
    name), captions ``text/<key>.txt``, split lists ``<split>/filenames.pickle``.
    """

    name: str
    image_dir: str
    tree: str  # the expected directory tree, shown in errors

    def image_path(self, data_dir: str, key: str) -> str:
        return os.path.join(data_dir, self.image_dir, key + ".jpg")

    @staticmethod
    def text_path(data_dir: str, key: str) -> str:
        return os.path.join(data_dir, "text", key + ".txt")


@dataclasses.dataclass
class ReadReport:
    """What was skipped or repaired while reading a data set (each entry is also logged)."""

    skipped_images: list[str] = dataclasses.field(default_factory=list)  # undecodable images
    wordless_lines: list[str] = dataclasses.field(default_factory=list)  # "file:line" skipped
    padded_caption_files: list[str] = dataclasses.field(default_factory=list)  # too few captions
    non_utf8_files: list[str] = dataclasses.field(default_factory=list)  # decoded with U+FFFD
    # "file:line (N words)" caption lines far longer than the model reads (records.py)
    long_lines: list[str] = dataclasses.field(default_factory=list)

    @property
    def problem_count(self) -> int:
        """Number of skipped images, skipped lines and repaired files."""
        return sum(len(v) for v in dataclasses.asdict(self).values())


@contextlib.contextmanager
def explain_layout_errors(layout: DatasetLayout, data_dir: str) -> Iterator[None]:
    """Re-raises :class:`DatasetLayoutError` (or its subclass) with the expected tree of
    ``layout`` appended."""
    try:
        yield
    except DatasetLayoutError as error:
        raise type(error)(
            f"{error}\n\nExpected {layout.name} layout under {data_dir}:\n{layout.tree}"
        ) from None


def require_file(path: str) -> None:
    """Raises DatasetLayoutError when ``path`` is not a file."""
    if not os.path.isfile(path):
        raise MissingFileError(f"missing file: {path}")


def load_pickle(path: str):
    """Unpickles ``path``; pickles written by Python 2 are read with ``encoding="latin1"``."""
    require_file(path)
    try:
        with open(path, "rb") as f:
            try:
                return pickle.load(f)
            except UnicodeDecodeError:
                f.seek(0)
                return pickle.load(f, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError) as error:
        raise DatasetLayoutError(f"malformed pickle {path}: {error}") from None


def as_text(value, path: str) -> str:
    """A pickled string as ``str`` (Python 2 pickles may hold bytes)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    raise DatasetLayoutError(f"malformed {path}: expected strings, found {type(value).__name__}")


def read_split_keys(data_dir: str, split: str) -> list[str]:
    """The image keys of ``<split>/filenames.pickle`` (a list of str or bytes, maybe empty)."""
    path = os.path.join(data_dir, split, "filenames.pickle")
    keys = load_pickle(path)
    if not isinstance(keys, (list, tuple)):
        raise DatasetLayoutError(f"malformed {path}: expected a list of image keys")
    return [as_text(key, path) for key in keys]


def read_class_ids(data_dir: str, split: str, count: int) -> np.ndarray:
    """int32 [count]: ``<split>/class_info.pickle``, or the image index when it is absent.

    With the image index every image is its own class, so DAMSM masks no extra negatives.
    """
    path = os.path.join(data_dir, split, "class_info.pickle")
    if not os.path.exists(path):
        return np.arange(count, dtype=np.int32)
    try:
        class_ids = np.asarray(load_pickle(path), dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as error:
        raise DatasetLayoutError(f"malformed {path}: expected integers ({error})") from None
    if class_ids.shape[0] != count:
        raise DatasetLayoutError(
            f"malformed {path}: {class_ids.shape[0]} class ids for {count} images in "
            f"{split}/filenames.pickle"
        )
    return class_ids.astype(np.int32)


def read_text(path: str, non_utf8_files: list[str]) -> str:
    """Reads a UTF-8 text file; a few invalid bytes become U+FFFD, with a warning naming the
    file, which is appended to ``non_utf8_files``. A file that is not text raises
    :class:`NotTextError` (:func:`not_text_reason`)."""
    require_file(path)
    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8", errors="replace")
    reason = not_text_reason(data, text)
    if reason:
        raise NotTextError(f"{path} is not a text file ({reason}); caption files are UTF-8 "
                           "text: replace or remove it")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        logger.warning("%s is not valid UTF-8 (%s); undecodable bytes replaced", path, error)
        non_utf8_files.append(path)
    return text


def not_text_reason(data: bytes, text: str) -> str | None:
    """Why ``data`` (decoded as ``text`` with U+FFFD replacements) is not text, or None: it
    holds a NUL byte, or more than :data:`MAX_UNREADABLE_SHARE` of its characters are invalid
    UTF-8 or control characters."""
    if b"\0" in data:
        return "it holds NUL bytes"
    unreadable = text.count("\ufffd") + len(_CONTROL_CHARACTERS.findall(text))
    if unreadable > MAX_UNREADABLE_SHARE * len(text):
        return (f"{unreadable} of its {len(text)} characters are invalid UTF-8 or control "
                "characters")
    return None


def read_captions(path: str, captions_per_image: int, report: ReadReport,
                  long_words: int | None = None) -> list[list[str]]:
    """The first ``captions_per_image`` captions of a caption file, tokenised (maybe fewer).

    Blank lines are skipped silently; lines with text but no word (e.g. "!!!" or "日本") are
    skipped, logged and reported. Captions of more than ``long_words`` words are kept and
    reported in ``report.long_lines``.
    """
    captions = []
    for number, line in enumerate(read_text(path, report.non_utf8_files).split("\n"), start=1):
        tokens = tokenize(line)
        if long_words is not None and len(tokens) > long_words:
            report.long_lines.append(f"{path}:{number} ({len(tokens)} words)")
        if tokens:
            captions.append(tokens)
            if len(captions) == captions_per_image:
                break
        elif line.strip():
            logger.warning("%s:%d has no word and is skipped: %r", path, number, line)
            report.wordless_lines.append(f"{path}:{number}")
    return captions


def complete_captions(
    captions: list, captions_per_image: int, *, source: str, repeat_missing: bool,
    report: ReadReport,
) -> list:
    """``captions`` (non-empty ones of one image) brought to exactly ``captions_per_image``.

    Fewer captions raise DatasetLayoutError naming ``source``, or with ``repeat_missing`` the
    captions are repeated cyclically (logged and reported). No caption at all always raises.
    """
    if len(captions) >= captions_per_image:
        return captions[:captions_per_image]
    if not captions or not repeat_missing:
        hint = "; ReadOptions(repeat_missing_captions=True) repeats them" if captions else ""
        raise DatasetLayoutError(
            f"{source} has {len(captions)} captions with words, {captions_per_image} required "
            f"(TextConfig.captions_per_image){hint}"
        )
    logger.warning(
        "%s has %d of %d captions; repeating them", source, len(captions), captions_per_image
    )
    report.padded_caption_files.append(source)
    return [captions[i % len(captions)] for i in range(captions_per_image)]


def image_problem(path: str) -> str | None:
    """Why ``path`` cannot be used as an image (missing, unknown format, truncated), or None.

    Decodes the whole file with PIL (JPEGs at reduced scale, which still reads every byte).
    """
    if not os.path.isfile(path):
        return "missing file"
    try:
        with Image.open(path) as image:
            if image.format not in DECODABLE_FORMATS:
                return f"format {image.format} is not one of {', '.join(DECODABLE_FORMATS)}"
            image.draft("RGB", (64, 64))
            image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        return f"does not decode: {error}"
    return None


def find_bad_images(paths: Sequence[str]) -> dict[str, str]:
    """``{path: problem}`` for the images that cannot be used, checked on all CPU cores."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        problems = pool.map(image_problem, paths)
    return {path: problem for path, problem in zip(paths, problems, strict=True) if problem}
