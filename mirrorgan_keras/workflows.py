"""The three training stages as functions: DAMSM pretraining, STREAM pretraining, MirrorGAN.

Each stage reads a config, trains under a ``tf.distribute`` strategy with
:func:`~mirrorgan_keras.training.fit_resumable` (checkpoints in
``<run_dir>/checkpoints/<stage>/``, resume from the newest), and writes its result into the
run directory:

```
<run_dir>/config.json          the configuration (and vocabulary size) of the run
<run_dir>/damsm.weights.h5     pretrained STEM + image encoder
<run_dir>/stream.weights.h5    pretrained captioner
<run_dir>/generator_ema.weights.h5, samples/step_*.png, logs/ (TensorBoard)
<run_dir>/vocabulary.txt, initial_gan/   converted runs (mirrorgan_keras.convert): the
                               vocabulary, and the generator + discriminators the GAN starts from
```

Under MultiWorkerMirroredStrategy every worker runs the same call. The chief writes all of
the above. Every other worker writes only what it needs to go on: its own copy of the
checkpoints in ``<run_dir>/checkpoints/<task>-<index>/<stage>/`` (its backups) and the
pretrained ``damsm.weights.h5`` / ``stream.weights.h5`` that its next stage reads (written
atomically, so workers sharing one run directory do not clash). No shared filesystem needed.

The recipes in ``recipes/`` are thin command-line wrappers around these functions.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from mirrorgan_keras import distribute, precision
from mirrorgan_keras.callbacks import SampleGrid, draw_noise
from mirrorgan_keras.checkpoint import TrainingCheckpoint, training_state
from mirrorgan_keras.config import MirrorGANConfig, override
from mirrorgan_keras.data import DatasetLayoutError, load_split, make_config_dataset
from mirrorgan_keras.data import steps_per_epoch as epoch_steps
from mirrorgan_keras.data.vocabulary import Vocabulary
from mirrorgan_keras.export import TextToImage
from mirrorgan_keras.models import (
    DAMSM,
    STREAM,
    DAMSMLearningRate,
    GLAMGenerator,
    MirrorGAN,
    WordPresencePretrainer,
    adam_optimizers,
)
from mirrorgan_keras.training import fit_resumable, resume_step

logger = logging.getLogger(__name__)

DATA_SOURCES = {
    "birds": "CUB-200-2011 images (Caltech-UCSD Birds) + the AttnGAN birds metadata",
    "coco": "MS-COCO 2014 train/val images + the AttnGAN coco metadata",
    "synthetic_birds": "python -m mirrorgan_keras.data.synthetic_birds --output_dir <data_dir>",
}


@dataclasses.dataclass(frozen=True)
class RunFiles:
    """Where a run keeps its files. ``worker``: the name of a non-chief worker of a cluster
    (:func:`~mirrorgan_keras.distribute.worker_name`), None on the chief or in one process."""

    root: Path
    worker: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    config = property(lambda self: self.root / "config.json")
    damsm = property(lambda self: self.root / "damsm.weights.h5")
    stream = property(lambda self: self.root / "stream.weights.h5")
    generator = property(lambda self: self.root / "generator_ema.weights.h5")
    vocabulary = property(lambda self: self.root / "vocabulary.txt")
    initial_gan = property(lambda self: self.root / "initial_gan")
    samples = property(lambda self: self.root / "samples")
    logs = property(lambda self: self.root / "logs")

    chief = property(lambda self: self.worker is None)

    def checkpoints(self, stage: str) -> Path:
        """The stage's checkpoints; a non-chief worker's own backups of them."""
        return self.root / "checkpoints" / (stage if self.chief else f"{self.worker}/{stage}")


def read_splits(config: MirrorGANConfig):
    """(train, test) records of the configured data set; a missing data set raises a
    :class:`DatasetLayoutError` that says where to get it."""
    try:
        return (load_split(config.data, config.text, "train"),
                load_split(config.data, config.text, "test"))
    except DatasetLayoutError as error:
        source = DATA_SOURCES.get(config.data.dataset, "see README.md, section Data")
        raise DatasetLayoutError(
            f"{error}\n\nData set {config.data.dataset!r} not found or incomplete in "
            f"{config.data.data_dir!r}. Get it from: {source} (README.md, section Data)."
        ) from error


def write_run_config(files: RunFiles, config: MirrorGANConfig, vocab_size: int):
    """Records the configuration of the run, or checks it against the one recorded."""
    values = {"config": config.to_dict(), "vocab_size": vocab_size}
    if files.config.exists():
        recorded = json.loads(files.config.read_text())
        if recorded["vocab_size"] != vocab_size:
            raise ValueError(f"{files.config}: vocabulary size {recorded['vocab_size']} was "
                             f"recorded, the data now gives {vocab_size}")
    files.root.mkdir(parents=True, exist_ok=True)
    files.config.write_text(json.dumps(values, indent=1))


def build_damsm(config: MirrorGANConfig, vocab_size: int, weights_file=None) -> DAMSM:
    """A DAMSM model, built; with ``weights_file`` its pretrained weights are loaded (and the
    backbone is not downloaded)."""
    damsm_config = config.damsm
    if weights_file is not None:
        damsm_config = dataclasses.replace(damsm_config, weights=None)
    damsm = DAMSM.from_configs(vocab_size, config.text, damsm_config, name="damsm")
    size = config.damsm.image_size
    damsm(tf.zeros((1, size, size, 3)), tf.ones((1, config.text.words_num), tf.int32))
    if weights_file is not None:
        damsm.load_weights(weights_file)
    return damsm


def build_stream(config: MirrorGANConfig, vocab_size: int, weights_file=None) -> STREAM:
    """A STREAM captioner, built; with ``weights_file`` its pretrained weights are loaded."""
    stream_config = config.stream
    if weights_file is not None:
        stream_config = dataclasses.replace(stream_config, weights=None)
    stream = STREAM.from_stream_config(vocab_size, stream_config, name="stream")
    size = config.stream.image_size
    stream(tf.zeros((1, size, size, 3)), tf.ones((1, config.text.words_num), tf.int32))
    if weights_file is not None:
        stream.load_weights(weights_file)
    return stream


def save_weights(model: keras.Model, path: Path):
    """``model.save_weights(path)`` through a temporary file renamed into place: a reader never
    sees half a file, and workers that write the same weights at once do not clash."""
    handle, staging = tempfile.mkstemp(prefix=".", suffix=path.name, dir=path.parent)
    os.close(handle)
    try:
        model.save_weights(staging)
        os.replace(staging, path)
    finally:
        Path(staging).unlink(missing_ok=True)


def exists_on_every_worker(path, strategy: tf.distribute.Strategy) -> bool:
    """Whether ``path`` exists on every worker (a collective under several workers)."""
    return bool(distribute.worker_min(strategy, int(Path(path).exists())))


def _fit_stage(model, stage: str, files: RunFiles, config, records, purpose: str,
               total_steps: int, checkpoint_every: int, seed: int, resume: bool,
               callbacks=(), verbose="auto"):
    """Trains with checkpoints (every worker) and TensorBoard logs (the chief)."""
    checkpoint = TrainingCheckpoint(files.checkpoints(stage), training_state(model),
                                    config.fingerprint())

    def dataset_from_step(step):
        return make_config_dataset(records, config, purpose, training=True, seed=seed,
                                   start_step=step)

    if files.chief:
        callbacks = [*callbacks, keras.callbacks.TensorBoard(files.logs / stage)]
    return fit_resumable(model, dataset_from_step, total_steps, checkpoint_every, checkpoint,
                         resume, callbacks, verbose)


def _open_stage(config: MirrorGANConfig, run_dir, strategy):
    """Common start of a stage: this worker's run files, start time, (train, test) records,
    strategy. The chief records the configuration."""
    strategy, start = strategy or tf.distribute.get_strategy(), time.time()
    files = RunFiles(run_dir, distribute.worker_name(strategy))
    train, test = read_splits(config)
    if files.chief:
        write_run_config(files, config, train.vocabulary.size)
    files.root.mkdir(parents=True, exist_ok=True)
    return files, start, train, test, strategy


def pretrain_damsm(config: MirrorGANConfig, run_dir, strategy=None, epochs: int | None = None,
                   seed: int = 0, resume: bool = True, verbose="auto") -> dict:
    """Trains STEM + the DAMSM image encoder (spec §4) and writes ``damsm.weights.h5``.

    Returns a summary dict (epochs, seconds, final train and test losses).
    """
    files, start, train, test, strategy = _open_stage(config, run_dir, strategy)
    epochs = epochs or config.damsm.epochs
    per_epoch = epoch_steps(train, config.damsm.batch_size)
    with strategy.scope(), precision.dtype_policy(config.compute.mixed_precision):
        damsm = build_damsm(config, train.vocabulary.size)
        damsm.compile(optimizer=keras.optimizers.Adam(config.damsm.learning_rate, beta_1=0.5,
                                                      beta_2=0.999),
                      jit_compile=config.compute.jit_compile)
        damsm.optimizer.build(damsm.trainable_weights)
    schedule = DAMSMLearningRate(initial=config.damsm.learning_rate)
    history = _fit_stage(damsm, "damsm", files, config, train, "damsm", epochs * per_epoch,
                         per_epoch, seed, resume, [schedule], verbose)
    save_weights(damsm, files.damsm)
    test_losses = damsm.evaluate(make_config_dataset(test, config, "damsm", training=False),
                                 verbose=0, return_dict=True)
    return _summary(history, test_losses, start, epochs=epochs)


def pretrain_stream(config: MirrorGANConfig, run_dir, strategy=None, epochs: int | None = None,
                    seed: int = 0, resume: bool = True, verbose="auto") -> dict:
    """Trains the STREAM captioner on real images (spec §7) and writes ``stream.weights.h5``.

    With ``stream.word_pretraining_epochs`` the CNN is first trained to predict its caption's
    words (:class:`~mirrorgan_keras.models.WordPresencePretrainer`), then frozen. Returns a
    summary dict with the test cross-entropy on the true images and on mismatched ones
    (``image_dependence`` = their difference: a captioner that ignores the image cannot
    guide the generator; check it before GAN training).
    """
    files, start, train, test, strategy = _open_stage(config, run_dir, strategy)
    epochs = epochs or config.stream.epochs
    per_epoch = epoch_steps(train, config.stream.batch_size)
    with strategy.scope(), precision.dtype_policy(config.compute.mixed_precision):
        stream = build_stream(config, train.vocabulary.size)
        stream.compile(optimizer=keras.optimizers.Adam(config.stream.learning_rate),
                       jit_compile=config.compute.jit_compile)
        stream.optimizer.build(stream.trainable_weights)
    fresh = not (resume and resume_step(files.checkpoints("stream"), strategy, per_epoch))
    if config.stream.word_pretraining_epochs and fresh:
        _pretrain_backbone_on_words(stream, config, train, strategy, seed, verbose)
    history = _fit_stage(stream, "stream", files, config, train, "stream", epochs * per_epoch,
                         per_epoch, seed, resume, (), verbose)
    save_weights(stream, files.stream)
    test_batches = make_config_dataset(test, config, "stream", training=False)
    real, mismatched = caption_losses(stream, test_batches, [_final_images, _mismatched_images])
    return _summary(history, {"loss": real, "loss_mismatched_images": mismatched,
                              "image_dependence": mismatched - real}, start, epochs=epochs)


def _pretrain_backbone_on_words(stream: STREAM, config, records, strategy, seed, verbose):
    backbone = stream.encoder.backbone
    with strategy.scope(), precision.dtype_policy(config.compute.mixed_precision):
        pretrainer = WordPresencePretrainer(stream.encoder, records.vocabulary.size)
        backbone.trainable = True
        pretrainer.compile(optimizer=keras.optimizers.Adam(config.stream.learning_rate),
                           jit_compile=config.compute.jit_compile)
        size = config.stream.image_size  # the head's variables, here and not in the step
        pretrainer.word_logits(stream.encoder.backbone_features(tf.zeros((1, size, size, 3))))
        pretrainer.optimizer.build(pretrainer.trainable_weights)
    dataset = make_config_dataset(records, config, "stream", training=True, seed=seed + 1)
    distribute.prepare_fit(pretrainer).fit(
        dataset, epochs=config.stream.word_pretraining_epochs,
        steps_per_epoch=epoch_steps(records, config.stream.batch_size), verbose=verbose)
    backbone.trainable = False


def _final_images(batch):
    return batch["images"][-1]


def _mismatched_images(batch):
    """Each caption paired with the previous image of the batch."""
    return tf.roll(batch["images"][-1], 1, axis=0)


def caption_losses(stream: STREAM, batches, image_sources) -> list[float]:
    """STREAM's caption cross-entropy over ``batches`` (dicts with ``captions``), once per
    function in ``image_sources`` (batch → images to describe), averaged over all real words."""
    totals, words = np.zeros(len(image_sources)), 0.0
    for batch in batches:
        captions = batch["captions"]
        count = float(tf.reduce_sum(tf.cast(captions != 0, tf.float32)))
        for i, source in enumerate(image_sources):
            loss = stream.caption_loss(source(batch), captions, training=False)
            totals[i] += float(loss) * count
        words += count
    return list(totals / max(words, 1.0))


def sample_captions(records, count: int, choose=None) -> tuple[np.ndarray, list[str]]:
    """One caption of each of ``count`` images spread over ``records``: ids ``[count, T]``
    padded to the longest, and their text. ``choose`` picks it from an image's captions (word
    id lists); default the first."""
    choose = choose or (lambda captions: captions[0])
    picks = np.linspace(0, len(records) - 1, count).astype(int)
    captions = [choose(records.captions[i]) for i in picks]
    ids = np.zeros((count, max(len(c) for c in captions)), np.int32)
    for row, caption in enumerate(captions):
        ids[row, :len(caption)] = caption
    return ids, [records.vocabulary.decode(c) for c in captions]


def train_mirrorgan(config: MirrorGANConfig, run_dir, strategy=None, steps: int | None = None,
                    checkpoint_every: int = 1000, sample_every: int = 1000, seed: int = 0,
                    resume: bool = True, damsm_weights=None, stream_weights=None,
                    verbose="auto", samples=None) -> dict:
    """Trains MirrorGAN (spec §8) with the pretrained encoders of the run (or the given
    weight files) and writes the EMA generator, sample grids and TensorBoard logs.

    ``steps`` defaults to ``train.max_epoch`` epochs. ``samples``: ``(ids [K, T], texts)`` of
    the captions the sample grids show (default: 8 test captions). Returns a summary dict.
    """
    files, start, train, test, strategy = _open_stage(config, run_dir, strategy)
    vocab_size = train.vocabulary.size
    damsm_weights = Path(damsm_weights or files.damsm)
    stream_weights = Path(stream_weights or files.stream)
    _require(damsm_weights, "recipes/pretrain_damsm.py")
    if config.train.lambda_stream > 0:
        _require(stream_weights, "recipes/pretrain_stream.py")
    steps = steps or config.train.max_epoch * epoch_steps(train, config.train.batch_size)
    with strategy.scope(), precision.dtype_policy(config.compute.mixed_precision):
        damsm = build_damsm(config, vocab_size, damsm_weights)
        stream = (build_stream(config, vocab_size, stream_weights)
                  if config.train.lambda_stream > 0 else None)
        gan = MirrorGAN.from_mirrorgan_config(config, damsm.text_encoder, stream,
                                              damsm.image_encoder, seed=seed)
        gan.compile(*adam_optimizers(config.train, config.generator.stages),
                    jit_compile=config.compute.jit_compile)
        gan.initialize(config.text.words_num)
    if exists_on_every_worker(files.initial_gan, strategy):  # a checkpoint, if any, overrides it
        gan.start_from(files.initial_gan, config)
    callbacks = []
    if files.chief:
        ids, texts = samples or sample_captions(test, 8)
        callbacks.append(SampleGrid(ids, texts, files.samples, sample_every,
                                    str(files.logs / "samples")))
    history = _fit_stage(gan, "mirrorgan", files, config, train, "gan", steps,
                         min(checkpoint_every, steps), seed, resume, callbacks, verbose)
    if files.chief:
        save_weights(gan.sync_ema_generator(), files.generator)
    return _summary(history, {}, start, steps=steps)


def load_generator(config: MirrorGANConfig, weights_file) -> GLAMGenerator:
    """The saved EMA generator of a run."""
    generator = GLAMGenerator.from_generator_config(config.generator, name="generator")
    dim = config.text.embedding_dim
    words = tf.zeros((1, config.text.words_num, dim))
    generator(tf.zeros((1, dim)), words, tf.ones((1, config.text.words_num), tf.bool))
    generator.load_weights(weights_file)
    return generator


def redescription_loss(config: MirrorGANConfig, run_dir, records, count: int = 512,
                       batch_size: int = 64, seed: int = 100) -> dict:
    """STREAM's caption cross-entropy on real images, on images the EMA generator makes from
    the same captions, and on mismatched real images (first caption of up to ``count`` images).

    Generated close to real and far below mismatched means the images carry their captions.
    """
    files = RunFiles(run_dir)
    vocab_size = records.vocabulary.size
    damsm = build_damsm(config, vocab_size, files.damsm)
    stream = build_stream(config, vocab_size, files.stream)
    generator = load_generator(config, files.generator)
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
        stream, batches, [_final_images, _mismatched_images, lambda batch: batch["generated"]]
    )
    return {"images": int(sum(len(b["captions"]) for b in batches)),
            "stream_ce_real": real, "stream_ce_generated": generated,
            "stream_ce_mismatched": mismatched}


def _require(path: Path, recipe: str):
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `python {recipe}` with the same "
                                "--run_dir first, or pass the weights file")


def _summary(history, test_losses: dict, start: float, **values) -> dict:
    final = {k: float(v[-1]) for k, v in history.history.items()} if history else {}
    return {**values, "seconds": round(time.time() - start, 1), "train": final,
            "test": {k: float(v) for k, v in test_losses.items()}}


def load_run_config(run_dir, data_dir: str | None = None) -> MirrorGANConfig:
    """The configuration a run recorded in ``<run_dir>/config.json``, with ``data_dir`` (when
    given) for a data set that has moved since."""
    files = RunFiles(run_dir)
    _require(files.config, "a training recipe")
    config = MirrorGANConfig.from_dict(json.loads(files.config.read_text())["config"])
    return override(config, {"data.data_dir": data_dir}) if data_dir else config


def load_text_to_image(run_dir, config: MirrorGANConfig | None = None, vocabulary=None,
                       damsm_weights=None) -> TextToImage:
    """The run's STEM and EMA generator with the data set's tokenizer, ready to export.

    ``config`` defaults to the run's; ``vocabulary`` to the run's ``vocabulary.txt`` (converted
    runs have one) or else the one of the configured data set; ``damsm_weights`` to the run's
    ``damsm.weights.h5`` (pass the file the run was trained with when it came from elsewhere).
    """
    files = RunFiles(run_dir)
    config = config or load_run_config(run_dir)
    if vocabulary is None and files.vocabulary.exists():
        vocabulary = Vocabulary.load(str(files.vocabulary))
    vocabulary = vocabulary or load_split(config.data, config.text, "test").vocabulary
    _require(files.generator, "recipes/train_*.py")
    damsm = build_damsm(config, vocabulary.size, damsm_weights or files.damsm)
    generator = load_generator(config, files.generator)
    return TextToImage(vocabulary, damsm.text_encoder, generator, config.text.words_num)
