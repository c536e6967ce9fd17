"""The three training stages as functions: DAMSM pretraining, STREAM pretraining, MirrorGAN.

Each stage reads a config, trains under a ``tf.distribute`` strategy with
:func:`~mirrorgan_keras.training.fit.fit_resumable` (checkpoints in
``<run_dir>/checkpoints/<stage>/``, resume from the newest), and writes its result into the
run directory (the files are listed in :mod:`mirrorgan_keras.runtime.run_files`).

Under MultiWorkerMirroredStrategy every worker runs the same call. The chief writes all of
these files. Every other worker writes only what it needs to go on: its own copy of the
checkpoints in ``<run_dir>/checkpoints/<task>-<index>/<stage>/`` (its backups) and the
pretrained ``damsm.weights.h5`` / ``stream.weights.h5`` that its next stage reads (written
atomically, so workers sharing one run directory do not clash). No shared filesystem needed.

The recipes in ``recipes/`` are thin command-line wrappers around these functions.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import keras
import tensorflow as tf

from mirrorgan_keras.config import MirrorGANConfig
from mirrorgan_keras.data import (
    ReadOptions,
    load_split,
    make_config_dataset,
    steps_per_epoch,
)
from mirrorgan_keras.data.layout import MissingFileError
from mirrorgan_keras.data.vocabulary import check_run_vocabulary
from mirrorgan_keras.evaluation.redescription import (
    caption_losses,
    image_dependence_warning,
    mismatched_images,
)
from mirrorgan_keras.models import (
    DAMSM,
    STREAM,
    DAMSMLearningRate,
    MirrorGAN,
    WordPresencePretrainer,
    adam_optimizers,
)
from mirrorgan_keras.models.damsm import final_images
from mirrorgan_keras.runtime import distribute, precision
from mirrorgan_keras.runtime.checkpoint import TrainingCheckpoint, training_state
from mirrorgan_keras.runtime.run_files import (
    RunFiles,
    check_writable,
    hold_run_lock,
    remove_leftovers,
    require_run_file,
    save_weights,
    write_run_config,
)
from mirrorgan_keras.training.callbacks import SampleGrid
from mirrorgan_keras.training.fit import fit_resumable, resume_step
from mirrorgan_keras.training.samples import real_images, sample_captions

logger = logging.getLogger(__name__)

DATA_SOURCES = {
    "cub": "CUB-200-2011 images (Caltech-UCSD Birds) + the AttnGAN birds metadata",
    "coco": "MS-COCO 2014 train/val images + the AttnGAN coco metadata",
    "synthetic_birds": "python -m mirrorgan_keras.data.synthetic_birds --output_dir <data_dir>",
}


def read_splits(config: MirrorGANConfig):
    """(train, test) records of the configured data set (bad images skipped with
    ``data.skip_bad_images``); a missing data set file raises a :class:`MissingFileError` that
    says where to get the data set."""
    options = ReadOptions(skip_bad_images=config.data.skip_bad_images)
    try:
        return (load_split(config.data, config.text, "train", options),
                load_split(config.data, config.text, "test", options))
    except MissingFileError as error:
        raise MissingFileError(
            f"{error}\n\nData set {config.data.dataset!r} not found or incomplete in "
            f"{config.data.data_dir!r}. Get it from: {DATA_SOURCES[config.data.dataset]} "
            "(docs/data.md, section How to obtain them)."
        ) from error


def _check_positive(**counts: int) -> None:
    """Raises ValueError naming the first of ``counts`` (name = value) that is not >= 1."""
    for name, count in counts.items():
        if count < 1:
            raise ValueError(f"{name} must be >= 1, got {count}")


def exists_on_every_worker(path, strategy: tf.distribute.Strategy) -> bool:
    """Whether ``path`` exists on every worker (a collective under several workers)."""
    return bool(distribute.worker_min(strategy, int(Path(path).exists())))


def _fit_stage(model, stage: str, files: RunFiles, config, *, records, purpose: str,
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
    return fit_resumable(model, dataset_from_step, total_steps, checkpoint_every,
                         checkpoint=checkpoint, resume=resume, callbacks=callbacks,
                         verbose=verbose)


@contextlib.contextmanager
def _open_stage(config: MirrorGANConfig, run_dir, strategy, stage: str, seed: int):
    """A stage's life: yields this worker's run files, start time, (train, test) records and
    strategy, holding the run directory's lock (:func:`hold_run_lock`) until the stage ends.

    That the run directory and the stage's checkpoints can be written is checked first
    (:func:`check_writable`), then the data is read, so a missing data set leaves no run
    directory behind. Then what
    killed writers left is removed (:func:`remove_leftovers`), ``seed`` seeds Python, NumPy,
    TensorFlow and Keras (the weight initialisers of the models the stage builds next), and
    the chief records the configuration and the vocabulary (``vocabulary.txt``), after checking
    that the data set's vocabulary is the one the run recorded, if any
    (:func:`~mirrorgan_keras.data.vocabulary.check_run_vocabulary`)."""
    strategy, start = strategy or tf.distribute.get_strategy(), time.time()
    files = RunFiles(run_dir, distribute.worker_name(strategy))
    check_writable(files, stage)
    train, test = read_splits(config)
    with hold_run_lock(files):
        remove_leftovers(files, stage)
        keras.utils.set_random_seed(seed)
        if files.chief:
            check_run_vocabulary(files, train.vocabulary, config.data.data_dir)
            write_run_config(files, config, train.vocabulary.size)
            train.vocabulary.save(str(files.vocabulary))
        yield files, start, train, test, strategy


def pretrain_damsm(config: MirrorGANConfig, run_dir, strategy=None, *,
                   epochs: int | None = None, seed: int = 0, resume: bool = True,
                   verbose="auto") -> dict:
    """Trains STEM + the DAMSM image encoder (docs/design.md §4) and writes ``damsm.weights.h5``.

    Returns a summary dict (epochs, seconds, final train and test losses).
    """
    epochs = config.damsm.epochs if epochs is None else epochs
    _check_positive(epochs=epochs)
    stage = _open_stage(config, run_dir, strategy, "damsm", seed)
    with stage as (files, start, train, test, strategy):
        per_epoch = steps_per_epoch(train, config.damsm.batch_size)
        with strategy.scope(), precision.dtype_policy(config.compute.mixed_precision):
            damsm = DAMSM.from_mirrorgan_config(config, train.vocabulary.size)
            damsm.compile(optimizer=keras.optimizers.Adam(config.damsm.learning_rate, beta_1=0.5,
                                                          beta_2=0.999),
                          jit_compile=config.compute.jit_compile)
            damsm.optimizer.build(damsm.trainable_weights)
        schedule = DAMSMLearningRate(initial=config.damsm.learning_rate)
        history = _fit_stage(damsm, "damsm", files, config, records=train, purpose="damsm",
                             total_steps=epochs * per_epoch, checkpoint_every=per_epoch, seed=seed,
                             resume=resume, callbacks=[schedule], verbose=verbose)
        save_weights(damsm, files.damsm)
        test_losses = damsm.evaluate(make_config_dataset(test, config, "damsm", training=False),
                                     verbose=0, return_dict=True)
        return _summary(history, test_losses, start, epochs=epochs)


def pretrain_stream(config: MirrorGANConfig, run_dir, strategy=None, *,
                    epochs: int | None = None, seed: int = 0, resume: bool = True,
                    verbose="auto") -> dict:
    """Trains the STREAM captioner on real images (docs/design.md §7) and writes
    ``stream.weights.h5``.

    With ``stream.word_pretraining_epochs`` the CNN is first trained to predict its caption's
    words (:class:`~mirrorgan_keras.models.WordPresencePretrainer`); it is then frozen or not as
    ``stream.freeze_backbone`` says. Returns a summary dict with the test cross-entropy on the
    true images and on images of other classes (``image_dependence`` = their difference: a
    captioner that ignores the image cannot guide the generator; a warning is logged below
    :data:`~mirrorgan_keras.evaluation.redescription.MIN_IMAGE_DEPENDENCE`).
    """
    epochs = config.stream.epochs if epochs is None else epochs
    _check_positive(epochs=epochs)
    stage = _open_stage(config, run_dir, strategy, "stream", seed)
    with stage as (files, start, train, test, strategy):
        per_epoch = steps_per_epoch(train, config.stream.batch_size)
        with strategy.scope(), precision.dtype_policy(config.compute.mixed_precision):
            stream = STREAM.from_mirrorgan_config(config, train.vocabulary.size)
            stream.compile(optimizer=keras.optimizers.Adam(config.stream.learning_rate),
                           jit_compile=config.compute.jit_compile)
            stream.optimizer.build(stream.trainable_weights)
        fresh = not (resume and resume_step(files.checkpoints("stream"), strategy, per_epoch))
        if config.stream.word_pretraining_epochs and fresh:
            _pretrain_backbone_on_words(stream, config, train, strategy, seed, verbose)
        history = _fit_stage(stream, "stream", files, config, records=train, purpose="stream",
                             total_steps=epochs * per_epoch, checkpoint_every=per_epoch, seed=seed,
                             resume=resume, verbose=verbose)
        save_weights(stream, files.stream)
        test_batches = make_config_dataset(test.interleave_classes(), config, "stream",
                                           training=False)
        real, mismatched = caption_losses(stream, test_batches, [final_images, mismatched_images])
        warning = image_dependence_warning(mismatched - real)
        if warning:
            logger.warning(warning)
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
        steps_per_epoch=steps_per_epoch(records, config.stream.batch_size), verbose=verbose,
        shuffle=False)  # the pipeline shuffles
    backbone.trainable = not config.stream.freeze_backbone


def train_mirrorgan(config: MirrorGANConfig, run_dir, strategy=None, *,
                    steps: int | None = None, checkpoint_every: int = 1000,
                    sample_every: int = 1000, seed: int = 0, resume: bool = True,
                    damsm_weights=None, stream_weights=None, verbose="auto",
                    samples=None) -> dict:
    """Trains MirrorGAN (docs/design.md §8) with the pretrained encoders of the run (or the given
    weight files) and writes the EMA generator, sample grids and TensorBoard logs.

    ``steps`` defaults to ``train.max_epoch`` epochs. ``samples``: the
    :class:`~mirrorgan_keras.training.samples.SampleCaptions` of the test split the sample
    sheets show (default: 8 spread over it), each beside its real image. Returns a summary dict.
    """
    _check_positive(steps=1 if steps is None else steps, checkpoint_every=checkpoint_every,
                    sample_every=sample_every)
    damsm_weights, stream_weights = _pretrained_encoders(config, RunFiles(run_dir),
                                                         damsm_weights, stream_weights)
    stage = _open_stage(config, run_dir, strategy, "mirrorgan", seed)
    with stage as (files, start, train, test, strategy):
        vocab_size = train.vocabulary.size
        if steps is None:
            steps = config.train.max_epoch * steps_per_epoch(train, config.train.batch_size)
        gan = _build_mirrorgan(config, vocab_size, strategy, damsm_weights=damsm_weights,
                               stream_weights=stream_weights, seed=seed)
        # A checkpoint, if any, overrides the initial state.
        if exists_on_every_worker(files.initial_gan, strategy):
            gan.start_from(files.initial_gan, config)
        callbacks = []
        if files.chief:
            samples = samples or sample_captions(test, 8)
            reals = real_images(test, samples.indices, config.generator.image_sizes[-1])
            callbacks.append(SampleGrid(samples.ids, samples.texts, files.samples,
                                        real_images=reals, every_steps=sample_every,
                                        log_dir=str(files.logs / "samples")))
        history = _fit_stage(gan, "mirrorgan", files, config, records=train, purpose="gan",
                             total_steps=steps, checkpoint_every=min(checkpoint_every, steps),
                             seed=seed, resume=resume, callbacks=callbacks, verbose=verbose)
        if files.chief:
            save_weights(gan.sync_ema_generator(), files.generator)
        return _summary(history, {}, start, steps=steps)


def _pretrained_encoders(config: MirrorGANConfig, files: RunFiles, damsm_weights,
                         stream_weights) -> tuple[Path, Path]:
    """The DAMSM and STREAM weight files the GAN starts from (default: the run's); one that is
    needed and missing raises naming its recipe, before anything is written in the run."""
    damsm_weights = Path(damsm_weights or files.damsm)
    stream_weights = Path(stream_weights or files.stream)
    require_run_file(damsm_weights, "recipes/pretrain_damsm.py")
    if config.train.lambda_stream > 0:
        require_run_file(stream_weights, "recipes/pretrain_stream.py")
    return damsm_weights, stream_weights


def _build_mirrorgan(config: MirrorGANConfig, vocab_size: int, strategy, *, damsm_weights,
                     stream_weights, seed: int) -> MirrorGAN:
    """The compiled, initialised MirrorGAN with the pretrained encoders, in ``strategy``."""
    with strategy.scope(), precision.dtype_policy(config.compute.mixed_precision):
        damsm = DAMSM.from_mirrorgan_config(config, vocab_size, damsm_weights)
        stream = (STREAM.from_mirrorgan_config(config, vocab_size, stream_weights)
                  if config.train.lambda_stream > 0 else None)
        gan = MirrorGAN.from_mirrorgan_config(config, damsm.text_encoder, stream=stream,
                                              image_encoder=damsm.image_encoder, seed=seed)
        gan.compile(*adam_optimizers(config.train, config.generator.stages),
                    jit_compile=config.compute.jit_compile)
        gan.initialize(config.text.words_num)
    return gan


def _summary(history, test_losses: dict, start: float, **values) -> dict:
    final = {k: float(v[-1]) for k, v in history.history.items()} if history else {}
    return {**values, "seconds": round(time.time() - start, 1), "train": final,
            "test": {k: float(v) for k, v in test_losses.items()}}
