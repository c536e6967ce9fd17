r"""The reference's word rules for captions, in pure Python (no TensorFlow).

AttnGAN's caption loading (docs/design.md §2) lowercases a caption, takes the matches of the regex
``\w+`` (Unicode word characters: letters, numbers and ``_``), removes the non-ASCII
characters from every token and drops the tokens that become empty. :func:`tokenize` is what
the data set readers and the vocabulary builder use;
:mod:`mirrorgan_keras.data.tokenizer` applies the same rules inside the TensorFlow graph.
"""

from __future__ import annotations

import re

WORD_PATTERN = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """Reference tokenisation of one caption, e.g. ``"A café-bird!"`` → ``["a", "caf", "bird"]``."""
    tokens = WORD_PATTERN.findall(text.lower())
    ascii_tokens = (token.encode("ascii", "ignore").decode("ascii") for token in tokens)
    return [token for token in ascii_tokens if token]
