"""The word vocabulary shared by STEM, STREAM and the caption tokenizer (docs/design.md §2).

Ids: 0 is ``"<end>"``, used only as padding; the real words follow from 1 in the order of
their first occurrence in the training then test captions (the reference's order, so ids built
here equal the reference's); the last id is ``"<unk>"`` for words outside the vocabulary.

Two file formats:

- a plain UTF-8 text file, one token per line, line number (from 0) = id
  (:meth:`Vocabulary.save` / :meth:`Vocabulary.load`);
- the reference ``captions.pickle`` = ``[train_captions, test_captions, ixtoword, wordtoix]``
  with captions as lists of word ids (:func:`read_captions_pickle` /
  :func:`write_captions_pickle`). Its vocabulary has no ``"<unk>"``; it is appended as the last
  id, so encoders trained on the reference vocabulary keep their ids.

A run directory records its vocabulary in the first format (``vocabulary.txt``,
:attr:`~mirrorgan_keras.runtime.run_files.RunFiles.vocabulary`): :func:`load_run_vocabulary`
reads it, :func:`check_run_vocabulary` refuses a data set whose vocabulary differs from it.
"""

from __future__ import annotations

import collections
import itertools
import pickle
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from mirrorgan_keras.data.layout import (
    DatasetLayoutError,
    as_text,
    load_pickle,
    require_file,
)
from mirrorgan_keras.runtime.run_files import RunFiles, atomic_path

PAD_TOKEN = "<end>"
UNK_TOKEN = "<unk>"
PAD_ID = 0


class Vocabulary:
    """Maps words to ids: ``"<end>"`` (0, padding), the words (1 … n), ``"<unk>"`` (n + 1).

    Example::

        vocabulary = Vocabulary.build([["a", "red", "bird"], ["a", "bird"]])
        vocabulary.lookup(["red", "bird", "cat"])  # [2, 3, 4]: "cat" → unk_id 4
    """

    def __init__(self, words: Sequence[str]):
        words = list(words)
        for word in words:
            if not word or word in (PAD_TOKEN, UNK_TOKEN) or any(c.isspace() for c in word):
                raise ValueError(f"invalid vocabulary word {word!r}")
        if len(set(words)) != len(words):
            raise ValueError("vocabulary words must be unique")
        self._tokens = (PAD_TOKEN, *words, UNK_TOKEN)
        self._ids = {token: i for i, token in enumerate(self._tokens)}

    @classmethod
    def build(cls, tokenized_captions: Iterable[Sequence[str]], min_count: int = 1) -> Vocabulary:
        """The words that occur at least ``min_count`` times in the captions, in order of first
        occurrence (1, the reference's rule: every word)."""
        return cls(word_counts(tokenized_captions).at_least(min_count))

    @property
    def tokens(self) -> tuple[str, ...]:
        """All tokens; the position is the id."""
        return self._tokens

    @property
    def size(self) -> int:
        """Number of ids, including ``"<end>"`` and ``"<unk>"`` (the embedding input dim)."""
        return len(self._tokens)

    @property
    def unk_id(self) -> int:
        """Id of ``"<unk>"``, the last id."""
        return len(self._tokens) - 1

    def __contains__(self, word: str) -> bool:
        return word in self._ids

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self._tokens == other._tokens

    def __hash__(self) -> int:
        return hash(self._tokens)

    def __repr__(self) -> str:
        return f"Vocabulary(size={self.size})"

    def lookup(self, words: Sequence[str]) -> list[int]:
        """Ids of ``words``; words outside the vocabulary give ``unk_id``."""
        return [self._ids.get(word, self.unk_id) for word in words]

    def decode(self, ids: Iterable[int]) -> str:
        """The words of ``ids`` joined by spaces, padding (0) left out."""
        return " ".join(self._tokens[i] for i in ids if i != PAD_ID)

    def save(self, path: str) -> None:
        """Writes one token per line (UTF-8)."""
        with atomic_path(path) as staging:
            staging.write_bytes(("\n".join(self._tokens) + "\n").encode("utf-8"))

    @classmethod
    def load(cls, path: str) -> Vocabulary:
        """Reads a file written by :meth:`save`; DatasetLayoutError names a malformed file."""
        require_file(path)
        with open(path, encoding="utf-8") as f:
            tokens = f.read().split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        if len(tokens) < 2 or tokens[0] != PAD_TOKEN or tokens[-1] != UNK_TOKEN:
            raise DatasetLayoutError(
                f"malformed vocabulary file {path}: expected {PAD_TOKEN!r} on the first line "
                f"and {UNK_TOKEN!r} on the last"
            )
        try:
            return cls(tokens[1:-1])
        except ValueError as error:
            raise DatasetLayoutError(f"malformed vocabulary file {path}: {error}") from None

    def to_reference(self) -> tuple[dict[int, str], dict[str, int]]:
        """``(ixtoword, wordtoix)`` of the reference pickle: every token except ``"<unk>"``."""
        ixtoword = dict(enumerate(self._tokens[:-1]))
        return ixtoword, {word: i for i, word in ixtoword.items()}

    @classmethod
    def from_reference(cls, ixtoword: Mapping[int, str], source: str = "ixtoword") -> Vocabulary:
        """Inverse of :meth:`to_reference`; ids must run 0 … n-1 with 0 = ``"<end>"``."""
        if not isinstance(ixtoword, Mapping) or sorted(ixtoword) != list(range(len(ixtoword))):
            raise DatasetLayoutError(f"malformed {source}: ixtoword ids must be 0 … n-1")
        tokens = [as_text(ixtoword[i], source) for i in range(len(ixtoword))]
        if tokens[0] != PAD_TOKEN:
            raise DatasetLayoutError(
                f"malformed {source}: id 0 is {tokens[0]!r}, not {PAD_TOKEN!r}"
            )
        try:
            return cls(tokens[1:])
        except ValueError as error:
            raise DatasetLayoutError(f"malformed {source}: {error}") from None


class WordCounts(collections.Counter):
    """How often each word occurs, in order of first occurrence."""

    def at_least(self, min_count: int) -> list[str]:
        """The words seen ``min_count`` times or more, in order of first occurrence."""
        return [word for word, count in self.items() if count >= min_count]


def word_counts(tokenized_captions: Iterable[Sequence[str]]) -> WordCounts:
    """:class:`WordCounts` of the words of ``tokenized_captions``."""
    return WordCounts(word for caption in tokenized_captions for word in caption)


class VocabularyMismatchError(ValueError):
    """A data set's vocabulary is not the one a run recorded: its word ids are not those the
    run's weights were trained with."""


def load_run_vocabulary(files: RunFiles) -> Vocabulary | None:
    """The vocabulary the run recorded (``vocabulary.txt``); None for a run written before runs
    recorded it."""
    return Vocabulary.load(str(files.vocabulary)) if files.vocabulary.exists() else None


def check_run_vocabulary(files: RunFiles, vocabulary: Vocabulary, data_dir: str) -> None:
    """Raises :class:`VocabularyMismatchError` when the run recorded a vocabulary other than
    ``vocabulary``, that of the data set in ``data_dir``, naming the first id that differs.
    A run without a recorded vocabulary passes."""
    recorded = load_run_vocabulary(files)
    if recorded is None or recorded == vocabulary:
        return
    raise VocabularyMismatchError(
        f"{files.vocabulary} is not the vocabulary of the data set in {data_dir}: "
        f"{_first_difference(recorded.tokens, vocabulary.tokens)}. The run's weights use the "
        "run's word ids: give the data set the run was trained on (--data_dir), or another "
        "--run_dir"
    )


def _first_difference(run: Sequence[str], data: Sequence[str]) -> str:
    """Where two different token lists first differ, in words: ``"id 7 is 'red' in the run,
    'blue' in the data set (45 and 47 ids)"``."""
    index = next(i for i, (a, b) in enumerate(itertools.zip_longest(run, data)) if a != b)
    in_run, in_data = (repr(tokens[index]) if index < len(tokens) else "nothing"
                       for tokens in (run, data))
    return (f"id {index} is {in_run} in the run, {in_data} in the data set "
            f"({len(run)} and {len(data)} ids)")


class ReferenceCaptions(NamedTuple):
    """Content of a reference ``captions.pickle``: flat caption lists (image-major, as in
    ``filenames.pickle`` with ``captions_per_image`` consecutive captions per image)."""

    vocabulary: Vocabulary
    train: list[list[int]]
    test: list[list[int]]


def read_captions_pickle(path: str) -> ReferenceCaptions:
    """Reads ``[train_captions, test_captions, ixtoword, wordtoix]``; checks every id."""
    content = load_pickle(path)
    if not isinstance(content, (list, tuple)) or len(content) != 4:
        raise DatasetLayoutError(
            f"malformed {path}: expected [train_captions, test_captions, ixtoword, wordtoix]"
        )
    vocabulary = Vocabulary.from_reference(content[2], source=path)
    splits = []
    for name, captions in zip(("train", "test"), content[:2], strict=True):
        try:
            captions = [[int(i) for i in caption] for caption in captions]
        except (TypeError, ValueError):
            raise DatasetLayoutError(
                f"malformed {path}: {name} captions must be lists of word ids"
            ) from None
        if any(not 0 < i < vocabulary.unk_id for caption in captions for i in caption):
            raise DatasetLayoutError(f"malformed {path}: {name} captions hold invalid word ids")
        splits.append(captions)
    return ReferenceCaptions(vocabulary, *splits)


def write_captions_pickle(path: str, captions: ReferenceCaptions) -> None:
    """Writes the reference format (pickle protocol 2, readable by Python 2 and 3)."""
    ixtoword, wordtoix = captions.vocabulary.to_reference()
    content = [captions.train, captions.test, ixtoword, wordtoix]
    with atomic_path(path) as staging:
        staging.write_bytes(pickle.dumps(content, protocol=2))
