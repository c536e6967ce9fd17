"""Re-description: how well the STREAM captioner recovers a caption from an image.

STREAM's caption cross-entropy on the true images, on mismatched ones (each caption paired with
another image) and on the images the EMA generator makes from the captions. A captioner whose
loss is no lower on the true images than on mismatched ones ignores the image and cannot guide
the generator; generated images whose loss is close to the real ones' carry their captions.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mirrorgan_keras.callbacks import draw_noise
from mirrorgan_keras.config import MirrorGANConfig
from mirrorgan_keras.data import make_config_dataset
from mirrorgan_keras.data.records import DatasetSplit
from mirrorgan_keras.models import DAMSM, STREAM, GLAMGenerator
from mirrorgan_keras.models.damsm import final_images
from mirrorgan_keras.run_files import RunFiles


def mismatched_images(batch) -> tf.Tensor:
    """The final images of a batch rolled by one: each caption gets the previous image."""
    return tf.roll(final_images(batch), 1, axis=0)


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
    dataset = make_config_dataset(records, config, "gan", training=False).unbatch()
    for batch in dataset.take(count).batch(batch_size):
        captions = batch["captions"]
        words, sentence = damsm.text_encoder(captions, training=False)
        noise, eps = draw_noise(generator, len(captions), rng)
        generated = generator(sentence, words, captions != 0, noise=noise,
                              condition_noise=eps, training=False)["images"][-1]
        batches.append({"captions": captions, "images": batch["images"],
                        "generated": generated})
    real, mismatched, generated = caption_losses(
        stream, batches, [final_images, mismatched_images, lambda batch: batch["generated"]]
    )
    return {"images": int(sum(len(b["captions"]) for b in batches)),
            "stream_ce_real": real, "stream_ce_generated": generated,
            "stream_ce_mismatched": mismatched}
