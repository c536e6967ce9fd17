"""SavedModel export of the text-to-image model for TF Serving: raw captions in, images out.

The exported graph holds the caption tokenizer (tensorflow-text) and the vocabulary, the
pretrained STEM text encoder and the EMA generator, so a client sends plain strings. Signatures
(B captions, S_i the side of stage i's image, T = ``words_num``):

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

A process loading the SavedModel must ``import tensorflow_text`` first (it registers the
tokenizer's ops); the stock TF Serving model server already links them. Exports are versioned,
``<export_dir>/<version>/`` as TF Serving expects, and written to a temporary directory that is
renamed into place, so a server polling ``export_dir`` never sees half a model.
"""

from __future__ import annotations

import json
import os
import types
from pathlib import Path

import tensorflow as tf

from mirrorgan_keras.data.tokenizer import CaptionTokenizer
from mirrorgan_keras.data.vocabulary import Vocabulary
from mirrorgan_keras.figures import to_uint8
from mirrorgan_keras.layers import SemanticTextEncoder
from mirrorgan_keras.models import GLAMGenerator
from mirrorgan_keras.run_files import atomic_path

METADATA_FILE = "assets.extra/mirrorgan.json"


class TextToImage(tf.Module):
    """Captions → images: tokenizer, STEM and generator in one ``tf.Module``.

    Args:
        vocabulary: the vocabulary the text encoder was trained with.
        text_encoder: pretrained STEM (ids ``[B, T]`` → words, sentence).
        generator: the (EMA) generator.
        words_num: caption width T; longer captions keep their first T known words.

    Example::

        model = TextToImage(vocabulary, damsm.text_encoder, ema_generator, words_num=18)
        outputs = model.generate_from_seed(tf.constant(["a red bird"]), tf.constant(0, tf.int64))
        export_saved_model(model, "exports/birds")  # → exports/birds/1/
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
        z_dim, condition_dim = generator.z_dim, generator.condition_dim
        captions = tf.TensorSpec([None], tf.string, name="captions")
        self.serve = tf.function(self._serve, input_signature=[captions])
        self.generate_from_seed = tf.function(
            self._generate_from_seed,
            input_signature=[captions, tf.TensorSpec([], tf.int64, name="seed")],
        )
        self.generate_from_noise = tf.function(
            self._generate_from_noise,
            input_signature=[captions, tf.TensorSpec([None, z_dim], tf.float32, name="noise"),
                             tf.TensorSpec([None, condition_dim], tf.float32,
                                           name="condition_noise")],
        )

    def signatures(self) -> dict:
        """The serving signatures, by name."""
        return {"serving_default": self.serve, "generate_from_seed": self.generate_from_seed,
                "generate_from_noise": self.generate_from_noise}

    def _serve(self, captions):
        batch = tf.shape(captions)[0]
        noise = tf.random.normal([batch, self.models.generator.z_dim])
        condition_noise = tf.random.normal([batch, self.models.generator.condition_dim])
        return {"images": self._generate_from_noise(captions, noise, condition_noise)["images"]}

    def _generate_from_seed(self, captions, seed):
        batch = tf.shape(captions)[0]
        noise_seed, condition_seed = tf.unstack(
            tf.random.experimental.stateless_split(tf.stack([seed, tf.constant(0, tf.int64)]), 2)
        )
        noise = tf.random.stateless_normal([batch, self.models.generator.z_dim], noise_seed)
        condition_noise = tf.random.stateless_normal([batch, self.models.generator.condition_dim],
                                                     condition_seed)
        return self._generate_from_noise(captions, noise, condition_noise)

    def _generate_from_noise(self, captions, noise, condition_noise):
        ids, _ = self.tokenizer(captions)
        return {**self.images_from_ids(ids, noise, condition_noise),
                "tokens": tf.gather(self.vocabulary_tokens, ids)}

    def images_from_ids(self, ids, noise, condition_noise) -> dict:
        """Word ids int ``[B, T]`` (0-padded) and noise → ``images`` and ``stage<i>`` uint8,
        ``attention<i>`` float32 (see the module docstring)."""
        words, sentence = self.models.text_encoder(ids, training=False)
        outputs = self.models.generator(sentence, words, ids != 0, noise=noise,
                                        condition_noise=condition_noise, training=False)
        stages = [to_uint8(images) for images in outputs["images"]]
        result = {"images": stages[-1]}
        result.update({f"stage{i}": images for i, images in enumerate(stages)})
        result.update({f"attention{i + 1}": tf.cast(maps, tf.float32)
                       for i, maps in enumerate(outputs["attention"])})
        return result


def next_version(export_dir: str | os.PathLike) -> int:
    """1 + the highest integer-named version directory in ``export_dir`` (1 when none)."""
    export_dir = Path(export_dir)
    versions = [int(p.name) for p in export_dir.iterdir() if p.name.isdigit()] \
        if export_dir.is_dir() else []
    return max(versions, default=0) + 1


def export_saved_model(model: TextToImage, export_dir: str | os.PathLike,
                       version: int | None = None, metadata: dict | None = None) -> Path:
    """Writes ``model`` as the SavedModel ``<export_dir>/<version>/`` and returns its path.

    ``version`` defaults to :func:`next_version`; an existing version is never overwritten.
    ``metadata`` (e.g. the training config) goes to ``assets.extra/mirrorgan.json`` beside the
    signatures' description. The model is written to a hidden temporary directory in
    ``export_dir`` and renamed, which TF Serving's version polling ignores until it appears.
    """
    export_dir = Path(export_dir)
    version = next_version(export_dir) if version is None else version
    final = export_dir / str(version)
    if final.exists():
        raise FileExistsError(f"{final} exists: export versions are never overwritten")
    with atomic_path(final, directory=True, overwrite=False) as staging:
        tf.saved_model.save(model, str(staging), signatures=model.signatures())
        description = {"words_num": model.words_num,
                       "signatures": sorted(model.signatures()), **(metadata or {})}
        (staging / METADATA_FILE).parent.mkdir(exist_ok=True)
        (staging / METADATA_FILE).write_text(json.dumps(description, indent=1))
    return final


def latest_export(path: str | os.PathLike) -> Path:
    """The SavedModel at ``path``: ``path`` itself when it holds ``saved_model.pb``, else its
    highest version directory."""
    path = Path(path)
    if (path / "saved_model.pb").exists():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"no exported model at {path}")
    version = next_version(path) - 1
    if version == 0:
        raise FileNotFoundError(f"{path} holds no saved_model.pb and no version directory")
    return path / str(version)


def load_exported(path: str | os.PathLike):
    """Loads an export (see :func:`latest_export`) after registering the tf.text ops."""
    import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)

    return tf.saved_model.load(str(latest_export(path)))
