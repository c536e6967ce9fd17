"""Captions → images: the task object (:class:`TextToImage`) and the graph it runs and exports
(:class:`TextToImageModule`).

:class:`TextToImageModule` is a ``tf.Module`` holding the caption tokenizer (tensorflow-text)
and the vocabulary, the pretrained STEM text encoder and the EMA generator, with the serving
signatures (B captions, S_i the side of stage i's image, T = ``words_num``):

``serving_default``
    ``captions`` string [B] → ``images`` uint8 [B, S, S, 3], the last stage, with fresh noise
    at every call.
``generate_from_seed``
    ``captions`` string [B], ``seed`` int64 [] → the same batch and seed always give the same
    images: ``images``, ``stage<i>`` uint8 [B, S_i, S_i, 3] for every stage,
    ``attention<i>`` float32 [B, T, s_i, s_i] word attention of refinement stage i (s_i is its
    input side; rows of padding words are 0), ``tokens`` string [B, T] (the words the model
    saw, "" for padding).
``generate_from_noise``
    ``captions``, ``noise`` float32 [B, z_dim], ``condition_noise`` float32
    [B, condition_dim] (the conditioning augmentation's ε) → the same outputs as
    ``generate_from_seed``: exactly what the in-memory EMA generator makes from that noise.

An empty batch (B = 0) gives empty outputs. A caption without any vocabulary word fails the
whole batch with ``tf.errors.InvalidArgumentError`` quoting it. The inputs' shapes are not
fixed in the signatures but checked in the graph, so that a TF Serving client also gets an
``InvalidArgumentError`` naming the input, the shape expected and the one given (captions not
a vector, noise not ``[B, width]``); noise with NaN or Inf values is refused likewise.

The module also keeps ``known_word_counts`` (``captions`` string [B] → int64 [B], never
raising), which is saved with it but is not a serving signature.

:class:`TextToImage` runs that graph, in memory (:meth:`TextToImage.from_run`) or loaded from
an export (:meth:`TextToImage.from_export`), with NumPy in and out; both give the same images
for the same captions and seed. Writing and loading the SavedModel is
:mod:`mirrorgan_keras.models.export`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import types
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from mirrorgan_keras.config import MirrorGANConfig
from mirrorgan_keras.data import DatasetLayoutError, load_split
from mirrorgan_keras.data.pipeline import to_uint8
from mirrorgan_keras.data.tokenizer import CaptionTokenizer
from mirrorgan_keras.data.vocabulary import Vocabulary, load_run_vocabulary
from mirrorgan_keras.layers import SemanticTextEncoder
from mirrorgan_keras.models import export
from mirrorgan_keras.models.damsm import DAMSM
from mirrorgan_keras.models.generator import GLAMGenerator
from mirrorgan_keras.runtime.run_files import (
    RunConfigMismatchError,
    RunFiles,
    WeightsFormatError,
    load_run_config,
    require_run_file,
)

logger = logging.getLogger(__name__)


class TextToImageModule(tf.Module):
    """Tokenizer, STEM and generator in one ``tf.Module``: the graph that is exported (see the
    module docstring for its signatures).

    Args:
        vocabulary: the vocabulary the text encoder was trained with.
        text_encoder: pretrained STEM (ids ``[B, T]`` → words, sentence).
        generator: the (EMA) generator.
        words_num: caption width T; longer captions keep their first T known words.

    Example::

        module = TextToImageModule(vocabulary, damsm.text_encoder, ema_generator, words_num=18)
        outputs = module.generate_from_seed(tf.constant(["a red bird"]), tf.constant(0, tf.int64))
        export_saved_model(module, "exports/birds")  # → exports/birds/1/
    """

    def __init__(self, vocabulary: Vocabulary, text_encoder: SemanticTextEncoder,
                 generator: GLAMGenerator, words_num: int, *, name: str | None = None):
        super().__init__(name=name)
        self.tokenizer = CaptionTokenizer(vocabulary, words_num)
        # The Keras models are held untracked and their variables tracked: saving a tracked
        # keras.Model would also trace its default one-input serving signature, which a
        # multi-input model cannot give.
        self.models = types.SimpleNamespace(text_encoder=text_encoder, generator=generator)
        self.model_variables = [*text_encoder.variables, *generator.variables]
        self.words_num = words_num
        self.vocabulary_tokens = tf.constant(["", *vocabulary.tokens[1:]])
        # Unconstrained shapes: the graph checks them (_checked_captions, _checked_noise).
        captions = tf.TensorSpec(None, tf.string, name="captions")
        self.serve = tf.function(self._serve, input_signature=[captions])
        self.generate_from_seed = tf.function(
            self._generate_from_seed,
            input_signature=[captions, tf.TensorSpec([], tf.int64, name="seed")],
        )
        self.generate_from_noise = tf.function(
            self._generate_from_noise,
            input_signature=[captions, tf.TensorSpec(None, tf.float32, name="noise"),
                             tf.TensorSpec(None, tf.float32, name="condition_noise")],
        )
        self.known_word_counts = tf.function(self._known_word_counts,
                                             input_signature=[captions])

    def signatures(self) -> dict:
        """The serving signatures, by name."""
        return {"serving_default": self.serve, "generate_from_seed": self.generate_from_seed,
                "generate_from_noise": self.generate_from_noise}

    def _known_word_counts(self, captions):
        return self.tokenizer.word_ids(_checked_captions(captions)).row_lengths()

    def _serve(self, captions):
        captions = _checked_captions(captions)
        batch = tf.shape(captions)[0]
        noise = tf.random.normal([batch, self.models.generator.z_dim])
        condition_noise = tf.random.normal([batch, self.models.generator.condition_dim])
        return {"images": self._generate_from_noise(captions, noise, condition_noise)["images"]}

    def _generate_from_seed(self, captions, seed):
        captions = _checked_captions(captions)
        batch = tf.shape(captions)[0]
        noise_seed, condition_seed = tf.unstack(
            tf.random.experimental.stateless_split(tf.stack([seed, tf.constant(0, tf.int64)]), 2)
        )
        noise = tf.random.stateless_normal([batch, self.models.generator.z_dim], noise_seed)
        condition_noise = tf.random.stateless_normal([batch, self.models.generator.condition_dim],
                                                     condition_seed)
        return self._generate_from_noise(captions, noise, condition_noise)

    def _generate_from_noise(self, captions, noise, condition_noise):
        captions = _checked_captions(captions)
        batch, generator = tf.shape(captions)[0], self.models.generator
        noise = _checked_noise(noise, "noise", batch, generator.z_dim)
        condition_noise = _checked_noise(condition_noise, "condition_noise", batch,
                                         generator.condition_dim)
        ids, _ = self.tokenizer(captions)
        return {**self.images_from_ids(ids, noise, condition_noise),
                "tokens": tf.gather(self.vocabulary_tokens, ids)}

    def images_from_ids(self, ids, noise, condition_noise) -> dict:
        """Word ids int ``[B, T]`` (0-padded) and noise → ``images`` and ``stage<i>`` uint8,
        ``attention<i>`` float32 (see the module docstring); empty for B = 0.

        TensorFlow's oneDNN convolution returns its input unchanged for an empty batch (the
        next convolution then fails: "input depth must be evenly divisible by filter depth"),
        so an empty batch does not run the models.
        """
        return tf.cond(tf.shape(ids)[0] > 0,
                       lambda: self._run_models(ids, noise, condition_noise),
                       self._empty_outputs)

    def _run_models(self, ids, noise, condition_noise) -> dict:
        words, sentence = self.models.text_encoder(ids, training=False)
        outputs = self.models.generator(sentence, words, ids != 0, noise=noise,
                                        condition_noise=condition_noise, training=False)
        stages = [to_uint8(images) for images in outputs["images"]]
        result = {"images": stages[-1]}
        result.update({f"stage{i}": images for i, images in enumerate(stages)})
        result.update({f"attention{i + 1}": tf.cast(maps, tf.float32)
                       for i, maps in enumerate(outputs["attention"])})
        return result

    def _empty_outputs(self) -> dict:
        generator = self.models.generator
        sizes = [generator.base_size * 2**i for i in range(generator.stages)]
        result = {f"stage{i}": tf.zeros([0, size, size, 3], tf.uint8)
                  for i, size in enumerate(sizes)}
        result.update({f"attention{i}": tf.zeros([0, self.words_num, size, size])
                       for i, size in enumerate(sizes[:-1], start=1)})
        return {"images": result[f"stage{len(sizes) - 1}"], **result}


def _shape_check(tensor, name: str, expected: list, meaning: str):
    """An assertion that ``tensor`` has the shape ``expected`` (ints, scalar tensors, or None
    for any size), failing with a message naming the input, the expected and the given shape."""
    shape = tf.shape(tensor, out_type=tf.int64)
    known = [index for index, size in enumerate(expected) if size is not None]
    wanted = (tf.cast(tf.stack([expected[index] for index in known]), tf.int64) if known
              else tf.zeros([0], tf.int64))
    fits = tf.cond(tf.size(shape) == len(expected),
                   lambda: tf.reduce_all(tf.gather(shape, tf.constant(known, tf.int32)) == wanted),
                   lambda: tf.constant(False))
    shown = ", ".join("{}" if size is not None else "any" for size in expected)
    message = tf.strings.format(f"{name}: expected shape [{shown}] ({meaning}), got shape {{}}",
                                (*tf.unstack(wanted), shape), summarize=-1)
    return tf.debugging.Assert(fits, [message])


def _checked_captions(captions):
    """``captions`` once the graph checked that it is a vector of strings."""
    with tf.control_dependencies([_shape_check(captions, "captions", [None],
                                               "one string per image")]):
        return tf.ensure_shape(tf.identity(captions), [None])


def _checked_noise(noise, name: str, batch, width: int):
    """``noise`` once the graph checked its shape, ``[batch, width]``, and that it is finite."""
    check = _shape_check(noise, name, [batch, width], "one row per caption")
    with tf.control_dependencies([check]):
        noise = tf.ensure_shape(tf.identity(noise), [None, width])
    return tf.debugging.assert_all_finite(
        noise, f"{name}: expected finite values (standard normal noise), got NaN or Inf")


@dataclasses.dataclass(frozen=True)
class GeneratedImages:
    """What :meth:`TextToImage.generate` returns with ``return_attention=True``; N images.

    Attributes:
        images: uint8 ``[N, S, S, 3]``, the last stage.
        stages: uint8 ``[N, S_i, S_i, 3]`` for every stage, smallest first.
        attention: float32 ``[N, T, s_i, s_i]`` for every refinement stage i = 1, 2, …: the
            word attention over its input (side s_i = S_{i−1}); row t is the word
            ``tokens[n][t]``, the rows past the caption's words (padding) are 0.
        tokens: for each image, the words of its caption the model kept (known words, at most
            T = ``words_num``), in order.
    """

    images: np.ndarray
    stages: list[np.ndarray]
    attention: list[np.ndarray]
    tokens: list[list[str]]


class TextToImage:
    """Text-to-image inference: captions in, uint8 images out, in memory or from an export.

    Build it with :meth:`from_run` (a run directory: its vocabulary, STEM and EMA generator) or
    :meth:`from_export` (a SavedModel written by :meth:`export`); for the same captions and
    seed both give the same images.

    Args:
        graph: a :class:`TextToImageModule`, or the SavedModel of one loaded with
            :func:`mirrorgan_keras.models.export.load_exported`.
        config: the run's configuration, recorded in the exports' metadata.

    Example::

        model = TextToImage.from_run("runs/demo")
        images = model.generate(["a red bird with black wings"], seed=0)  # uint8 [1, S, S, 3]
        model.export("runs/demo/export")  # → runs/demo/export/1/
    """

    def __init__(self, graph, config: MirrorGANConfig | None = None):
        self.graph = graph
        self.config = config

    @classmethod
    def from_run(cls, run_dir: str | os.PathLike, *, data_dir: str | None = None,
                 damsm_weights: str | os.PathLike | None = None) -> TextToImage:
        """The run's STEM and EMA generator with its vocabulary and tokenizer.

        The vocabulary is the run's ``vocabulary.txt``: no data set is needed. A run written
        before runs recorded their vocabulary has none; the vocabulary of its data set is read
        then (``data_dir`` when the data set has moved; it is not read otherwise), with a
        warning that gives the command recording it in the run. ``damsm_weights``: the DAMSM
        the run was trained with, when it is not the run's ``damsm.weights.h5``.

        A ``config.json`` that no longer describes the weights (edited by hand) raises
        :class:`~mirrorgan_keras.runtime.run_files.RunConfigMismatchError`: naming the keys and
        the values to restore when the run has a checkpoint recording them, else naming the
        weights file that does not fit.
        """
        files = RunFiles(run_dir)
        config = load_run_config(run_dir, data_dir)
        require_run_file(files.generator, "recipes/train_*.py")
        vocabulary = load_run_vocabulary(files) or _data_set_vocabulary(config, files)
        damsm_weights = damsm_weights or files.damsm
        damsm = _load_run_model(files, damsm_weights, lambda: DAMSM.from_mirrorgan_config(
            config, vocabulary.size, damsm_weights))
        generator = _load_run_model(files, files.generator, lambda: (
            GLAMGenerator.from_mirrorgan_config(config, files.generator)))
        module = TextToImageModule(vocabulary, damsm.text_encoder, generator,
                                   config.text.words_num)
        return cls(module, config)

    @classmethod
    def from_export(cls, path: str | os.PathLike) -> TextToImage:
        """The SavedModel at ``path``: a version directory, or an export directory (its highest
        version). Registers the tokenizer's tf.text ops first."""
        return cls(export.load_exported(path))

    @property
    def signature_names(self) -> list[str]:
        """The serving signatures of the graph, sorted."""
        if isinstance(self.graph, TextToImageModule):
            return sorted(self.graph.signatures())
        return sorted(self.graph.signatures)  # a loaded SavedModel's signature map

    def generate(self, captions: str | Sequence[str], seed: int | None = None,
                 num_samples: int = 1, return_attention: bool = False):
        """Draws ``num_samples`` images for each caption.

        Args:
            captions: a caption or a list of them (raw text: the graph tokenizes it; unknown
                words are dropped, captions are cut to ``words_num`` known words).
            seed: None draws fresh noise; an integer gives the same images for the same
                captions, ``num_samples`` and model: the images are those of the export's
                ``generate_from_seed`` signature for this batch of N captions (each caption
                repeated ``num_samples`` times) and this seed.
            num_samples: images per caption.
            return_attention: also return the stages, attention maps and kept words.

        Returns:
            uint8 ``[N, S, S, 3]`` with N = ``len(captions) * num_samples`` in caption-major
            order (image ``c * num_samples + k`` is sample k of caption c); with
            ``return_attention`` a :class:`GeneratedImages`. No captions give N = 0.

        Raises:
            tf.errors.InvalidArgumentError: a caption has no vocabulary word; the whole batch
                fails and the message quotes the caption. :meth:`captions_without_known_words`
                finds such captions first.
        """
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        captions = [captions] if isinstance(captions, str) else list(captions)
        batch = [caption for caption in captions for _ in range(num_samples)]
        seed = secrets.randbits(63) if seed is None else seed
        outputs = self.graph.generate_from_seed(tf.constant(batch, tf.string, shape=[len(batch)]),
                                                tf.constant(seed, tf.int64))
        outputs = {name: value.numpy() for name, value in outputs.items()}
        if not return_attention:
            return outputs["images"]
        stages = sum(name.startswith("stage") for name in outputs)
        return GeneratedImages(
            images=outputs["images"],
            stages=[outputs[f"stage{i}"] for i in range(stages)],
            attention=[outputs[f"attention{i}"] for i in range(1, stages)],
            tokens=[[token.decode("utf-8") for token in row if token] for row in outputs["tokens"]],
        )

    def captions_without_known_words(self, captions: Sequence[str]) -> list[str]:
        """The captions (in order) that :meth:`generate` refuses: those without any vocabulary
        word."""
        captions = list(captions)
        counts = self.graph.known_word_counts(tf.constant(captions, tf.string,
                                                          shape=[len(captions)]))
        return [caption for caption, count in zip(captions, counts.numpy(), strict=True)
                if count == 0]

    def export(self, export_dir: str | os.PathLike, version: int | None = None) -> Path:
        """Writes the versioned SavedModel ``<export_dir>/<version>/`` (``version`` defaults to
        one above the highest; see :func:`mirrorgan_keras.models.export.export_saved_model`) and
        returns its path. Only a model built in memory (:meth:`from_run`) can be exported."""
        if not isinstance(self.graph, TextToImageModule):
            raise TypeError("this model was loaded from an export: copy its directory instead")
        metadata = {"config": self.config.to_dict()} if self.config else None
        return export.export_saved_model(self.graph, export_dir, version, metadata)


def _load_run_model(files: RunFiles, weights: str | os.PathLike, build: Callable):
    """``build()``, which loads the run's weights file ``weights``; a file that does not fit the
    model ``config.json`` describes (Keras's ValueError) raises RunConfigMismatchError."""
    try:
        return build()
    except WeightsFormatError:
        raise
    except ValueError as error:
        raise RunConfigMismatchError(
            f"{weights} does not fit the model {files.config} describes: config.json disagrees "
            "with the run's weights files (was it edited?); restore config.json to the values "
            "the weights were trained with"
        ) from error


def _data_set_vocabulary(config: MirrorGANConfig, files: RunFiles) -> Vocabulary:
    """The vocabulary of the run's data set, for a run without ``vocabulary.txt``; the
    DatasetLayoutError of a missing data set says how to give it."""
    record = f"python recipes/record_vocabulary.py --run_dir {files.root} --data_dir <data set>"
    before = "the run was written before runs recorded their vocabulary"
    try:
        vocabulary = load_split(config.data, config.text, "test").vocabulary
    except DatasetLayoutError as error:
        raise DatasetLayoutError(
            f"{files.vocabulary} not found ({before}), and the run's data set, which has the "
            f"vocabulary, is not readable: {error}\nGive the data set the run was trained on "
            "(data_dir=, --data_dir), or record the vocabulary in the run once, where the data "
            f"set is: {record}"
        ) from error
    logger.warning("%s not found (%s): reading the vocabulary of the data set in %s. To use the "
                   "run without the data set, record it once: %s", files.vocabulary, before,
                   config.data.data_dir, record)
    return vocabulary
