"""Re-description: how well the STREAM captioner recovers a caption from an image.

STREAM's caption cross-entropy on the true images, on mismatched ones (each caption paired with
an image of another class) and on the images the EMA generator makes from the captions. A
captioner whose loss is no lower on the true images than on mismatched ones ignores the image
and cannot guide the generator; generated images whose loss is close to the real ones' carry
their captions.

:func:`swapped_word_preference` asks a finer question: does STREAM prefer a caption to the same
caption with two of its colour words swapped ("red crown, blue wings" against "blue crown, red
wings")? A captioner that sees only which colours a bird has scores both alike (50 %); only one
that binds colours to parts can make the re-description loss teach the generator where each
colour goes. Asked of DAMSM (its sentence–image cosine), the same test measures the binding in
the text encoder whose word features the generator's attention draws from.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mirrorgan_keras.config import MirrorGANConfig
from mirrorgan_keras.data import make_config_dataset
from mirrorgan_keras.data.records import DatasetSplit
from mirrorgan_keras.losses import masked_caption_loss_terms
from mirrorgan_keras.models import DAMSM, STREAM, GLAMGenerator
from mirrorgan_keras.models.damsm import final_images
from mirrorgan_keras.models.generator import draw_noise
from mirrorgan_keras.runtime.run_files import RunFiles

# Below this gap (nats per word) between STREAM's caption cross-entropy on mismatched and on
# true images, the captioner barely looks at the image, and the re-description loss tells the
# generator little about what to draw (docs/experiments.md: 0.07 went with birds that ignored
# their captions' part–colour pairs; 0.6 and more with birds that followed them).
MIN_IMAGE_DEPENDENCE = 0.3


def image_dependence_warning(image_dependence: float) -> str | None:
    """A warning to show when STREAM's ``image_dependence`` (mismatched − true caption
    cross-entropy) is below :data:`MIN_IMAGE_DEPENDENCE`; None when it is not."""
    if image_dependence >= MIN_IMAGE_DEPENDENCE:
        return None
    return (f"STREAM's image_dependence is {image_dependence:.3f} nats/word (< "
            f"{MIN_IMAGE_DEPENDENCE}): it reads a caption back from a wrong image almost as well "
            "as from the right one, so the re-description loss gives the generator little "
            "signal. Train STREAM longer or with a stronger CNN (docs/training.md).")


def other_class_partners(class_ids) -> tf.Tensor:
    """For each row of a batch, the nearest earlier row (cyclically) of another class.

    Args:
        class_ids: int ``[B]``.

    Returns:
        int32 ``[B]`` row indices; a row with no other class in the batch gets the previous row.
    """
    class_ids = tf.convert_to_tensor(class_ids)
    size = tf.shape(class_ids)[0]
    rows = tf.range(size)
    shifts = tf.range(1, tf.maximum(size, 2))  # [K]: 1 .. B-1
    candidates = tf.math.floormod(rows[None, :] - shifts[:, None], size)  # [K, B]
    differs = tf.gather(class_ids, candidates) != class_ids[None, :]
    first = tf.argmax(tf.cast(differs, tf.int32), axis=0, output_type=tf.int32)  # 0 if none
    return tf.math.floormod(rows - tf.gather(shifts, first), size)


def mismatched_images(batch) -> tf.Tensor:
    """The final images of a batch re-paired so each caption gets an image of another class
    (:func:`other_class_partners`): a same-class image shows the same colours and is no
    mismatch."""
    return tf.gather(final_images(batch), other_class_partners(batch["class_ids"]))


def caption_losses(stream: STREAM, batches, image_sources) -> list[float]:
    """STREAM's caption cross-entropy over ``batches`` (dicts with ``captions`` int
    ``[B, T]``), once per function in ``image_sources`` (batch → images ``[B, S, S, 3]`` to
    describe), averaged over all real words."""
    totals, words = np.zeros(len(image_sources)), 0.0
    for batch in batches:
        captions = batch["captions"]
        count = float(tf.reduce_sum(tf.cast(captions != 0, tf.float32)))
        for i, source in enumerate(image_sources):
            loss = stream.caption_loss(source(batch), captions, training=False)
            totals[i] += float(loss) * count
        words += count
    return list(totals / max(words, 1.0))


def redescription_loss(config: MirrorGANConfig, run_dir, records: DatasetSplit, *,
                       count: int = 512, batch_size: int = 64, seed: int = 100) -> dict:
    """STREAM's caption cross-entropy on real images, on images the run's EMA generator makes
    from the same captions, and on mismatched real images (first caption of up to ``count``
    images of ``records``).

    Generated close to real and far below mismatched means the images carry their captions.
    """
    files = RunFiles(run_dir)
    vocab_size = records.vocabulary.size
    damsm = DAMSM.from_mirrorgan_config(config, vocab_size, files.damsm)
    stream = STREAM.from_mirrorgan_config(config, vocab_size, files.stream)
    generator = GLAMGenerator.from_mirrorgan_config(config, files.generator)
    rng = np.random.default_rng(seed)
    batches = []
    records = records.interleave_classes()  # batches that mix classes, for the mismatches
    dataset = make_config_dataset(records, config, "gan", training=False).unbatch()
    for batch in dataset.take(count).batch(batch_size):
        captions = batch["captions"]
        words, sentence = damsm.text_encoder(captions, training=False)
        noise, condition_noise = draw_noise(generator, len(captions), rng)
        generated = generator(sentence, words, captions != 0, noise=noise,
                              condition_noise=condition_noise, training=False)["images"][-1]
        batches.append({"captions": captions, "images": batch["images"],
                        "class_ids": batch["class_ids"], "generated": generated})
    real, mismatched, generated = caption_losses(
        stream, batches, [final_images, mismatched_images, lambda batch: batch["generated"]]
    )
    return {"images": int(sum(len(b["captions"]) for b in batches)),
            "stream_ce_real": real, "stream_ce_generated": generated,
            "stream_ce_mismatched": mismatched}


def per_caption_losses(stream: STREAM, images, captions) -> np.ndarray:
    """STREAM's cross-entropy of each caption, averaged over its real words: images
    ``[B, S, S, 3]``, captions int ``[B, T]`` → float ``[B]``."""
    token_losses, mask = masked_caption_loss_terms(captions, stream(images, captions,
                                                                    training=False))
    return np.asarray(tf.reduce_sum(token_losses * mask, axis=1)
                      / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0))


def swap_two_words(caption, word_ids) -> np.ndarray | None:
    """The caption (ids ``[T]``) with its first two different words of ``word_ids`` swapped,
    or None when it has fewer than two different ones."""
    caption = np.array(caption)
    positions = [i for i, word in enumerate(caption) if word in word_ids]
    for j in positions[1:]:
        if caption[j] != caption[positions[0]]:
            caption[[positions[0], j]] = caption[[j, positions[0]]]
            return caption
    return None


def per_caption_mismatch(damsm: DAMSM, images, captions) -> np.ndarray:
    """DAMSM's mismatch of each caption with its image: minus the cosine of the global image
    code and the sentence embedding (lower = better match, as a loss). Images
    ``[B, S, S, 3]``, captions int ``[B, T]`` → float ``[B]``."""
    _, sentence, _, code = damsm(images, captions, training=False)
    return -np.asarray(tf.reduce_sum(tf.math.l2_normalize(code, -1)
                                     * tf.math.l2_normalize(sentence, -1), axis=-1))


def swapped_word_preference(model: STREAM | DAMSM, config: MirrorGANConfig,
                            records: DatasetSplit, words, *, count: int = 512,
                            batch_size: int = 64) -> dict:
    """How often a model reads a real image's caption better than the same caption with two of
    its ``words`` (e.g. colours) swapped, on up to ``count`` images of ``records`` (their
    pipeline caption at the model's image size; images whose caption names fewer than two
    different ``words`` are skipped).

    "Better" is STREAM's lower caption cross-entropy (:func:`per_caption_losses`) or DAMSM's
    higher sentence–image cosine (:func:`per_caption_mismatch`): the text–image binding the
    re-description loss, or the word features and word attention, build on.

    Returns ``{"images": n, "preference": fraction of images where the true caption scores
    better}``; 0.5 is a model blind to where the words belong.
    """
    stage, caption_costs = (("damsm", per_caption_mismatch) if isinstance(model, DAMSM)
                            else ("stream", per_caption_losses))
    vocabulary = records.vocabulary
    word_ids = set(vocabulary.lookup([word for word in words if word in vocabulary]))
    wins, total = 0, 0
    dataset = make_config_dataset(records, config, stage, training=False).unbatch()
    for batch in dataset.take(count).batch(batch_size):
        captions = np.asarray(batch["captions"])
        swapped = [swap_two_words(caption, word_ids) for caption in captions]
        keep = np.array([caption is not None for caption in swapped])
        if not keep.any():
            continue
        images = tf.boolean_mask(final_images(batch), keep)
        true = caption_costs(model, images, captions[keep])
        other = caption_costs(model, images, np.stack([c for c in swapped if c is not None]))
        wins += int(np.sum(true < other))
        total += int(keep.sum())
    return {"images": total, "preference": wins / max(total, 1)}
