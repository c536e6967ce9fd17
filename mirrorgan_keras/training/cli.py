"""Command-line flags shared by the recipes (absl), the config they describe, and the whole of
the recipes that differ only by a name (the GAN recipe of a preset, the pretraining of a stage)."""

from __future__ import annotations

import ast
import functools
import json
import logging
import sys

from absl import app, flags

from mirrorgan_keras.config import (
    MIXED_PRECISION_POLICIES,
    PRESETS,
    MirrorGANConfig,
    get_preset,
    override,
)
from mirrorgan_keras.runtime import distribute, run_files

FLAGS = flags.FLAGS


def define_common_flags(default_preset: str, default_run_dir: str | None = None):
    """Flags every recipe takes: preset, data (and bad images), run directory (default
    ``default_run_dir``, else ``runs/<preset>``), strategy, resume, seed, XLA, mixed precision,
    overrides."""
    flags.DEFINE_enum("preset", default_preset, sorted(PRESETS), "Configuration preset.")
    flags.DEFINE_string("data_dir", None, "Data set directory (default: the preset's).")
    flags.DEFINE_bool("skip_bad_images", None, "Skip (and count) training images that do not "
                      "decode instead of stopping (default: data.skip_bad_images, off).")
    flags.DEFINE_string("run_dir", default_run_dir, "Where the run writes its files"
                        + ("." if default_run_dir else " (default runs/<preset>)."))
    flags.DEFINE_enum("strategy", "auto", list(distribute.STRATEGIES),
                      "tf.distribute strategy; auto = mirrored when several GPUs are visible.")
    flags.DEFINE_bool("resume", True, "Continue from the newest checkpoint of the run.")
    flags.DEFINE_integer("seed", 0, "Seed of weight initialisation, data order, augmentation "
                         "and noise.", lower_bound=0)
    flags.DEFINE_integer("batch_size", None, "Global batch size of this stage (default: preset).",
                         lower_bound=1)
    flags.DEFINE_multi_string("set", [], "Config override KEY=VALUE, repeatable, e.g. "
                              "--set train.lambda_stream=10 --set generator.ngf=48.")
    flags.DEFINE_enum("verbose", "auto", ["auto", "0", "1", "2"], "Keras fit verbosity.")
    flags.DEFINE_bool("jit_compile", None, "Compile the training steps with XLA (default: "
                      "compute.jit_compile, off; slower on CPU, docs/performance.md).")
    flags.DEFINE_enum("mixed_precision", None, [p for p in MIXED_PRECISION_POLICIES if p],
                      "Keras dtype policy of the training steps (default: "
                      "compute.mixed_precision, float32).")


def parse_overrides(assignments: list[str]) -> dict:
    """``["train.batch_size=8", "damsm.weights=None"]`` → ``{"train.batch_size": 8, ...}``.

    Values are Python literals when they parse as one (numbers, booleans, None), else strings.
    """
    values = {}
    for assignment in assignments:
        key, separator, text = assignment.partition("=")
        if not separator:
            raise ValueError(f"--set expects KEY=VALUE, got {assignment!r}")
        try:
            values[key.strip()] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            values[key.strip()] = text
    return values


def config_from_flags(stage_batch_key: str | None = None, **stage_values) -> MirrorGANConfig:
    """The preset with ``--data_dir``, ``--batch_size`` (as ``stage_batch_key``),
    ``--jit_compile``, ``--mixed_precision``, the stage's own flag values (dotted keys, None =
    keep) and ``--set`` overrides applied in that order.

    Every value is checked here (:mod:`mirrorgan_keras.config`), before anything is written: a
    wrong one exits with a message naming its key."""
    values = {"data.data_dir": FLAGS.data_dir, "data.skip_bad_images": FLAGS.skip_bad_images,
              stage_batch_key: FLAGS.batch_size,
              "compute.jit_compile": FLAGS.jit_compile,
              "compute.mixed_precision": FLAGS.mixed_precision, **stage_values}
    values = {k: v for k, v in values.items() if k is not None and v is not None}
    try:
        return override(override(get_preset(FLAGS.preset), values), parse_overrides(FLAGS.set))
    except ValueError as error:
        raise SystemExit(f"invalid configuration: {error}") from None


def run_dir() -> str:
    """``--run_dir``, or ``runs/<preset>`` when it has no default."""
    return FLAGS.run_dir or f"runs/{FLAGS.preset}"


def lock_run_directory(directory, strategy):
    """:func:`~mirrorgan_keras.runtime.run_files.hold_run_lock` on ``directory`` for this
    worker of ``strategy``: a recipe that runs several stages holds it across them, so no other
    training process gets in between."""
    return run_files.hold_run_lock(
        run_files.RunFiles(directory, distribute.worker_name(strategy)))


def verbosity():
    return "auto" if FLAGS.verbose == "auto" else int(FLAGS.verbose)


def strategy_from_flags():
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return distribute.make_strategy(FLAGS.strategy)


def backbone_weights(value: str | None):
    """``--backbone_weights``: "imagenet", a local file, or "none"."""
    return None if value in (None, "none", "None") else value


def define_gan_flags(default_preset: str):
    """Flags of the MirrorGAN training recipes (train_cub, train_coco, train_synthetic_birds)."""
    define_common_flags(default_preset)
    flags.DEFINE_integer("steps", None, "Training steps (default: train.max_epoch epochs).",
                         lower_bound=1)
    flags.DEFINE_integer("checkpoint_every", 1000, "Steps between checkpoints.", lower_bound=1)
    flags.DEFINE_integer("sample_every", 1000, "Steps between sample grids (PNG + TensorBoard).",
                         lower_bound=1)
    flags.DEFINE_float("lambda_stream", None, "Weight of the STREAM re-description loss "
                       "(default: preset, 20 as in the paper; 0 = no STREAM).")
    flags.DEFINE_float("lambda_damsm", None, "Weight of AttnGAN's DAMSM loss in G (default 0).")
    flags.DEFINE_bool("sentence_attention", None, "MirrorGAN's global sentence attention "
                      "(default: on; off + lambda_stream 0 + lambda_damsm 5 = AttnGAN).")
    flags.DEFINE_string("damsm_weights", None,
                        "Pretrained DAMSM (default <run_dir>/damsm.weights.h5).")
    flags.DEFINE_string("stream_weights", None,
                        "Pretrained STREAM (default <run_dir>/stream.weights.h5).")


def gan_main(argv, strategy=None):
    """Trains MirrorGAN with the GAN recipe flags and prints the summary as JSON.

    ``strategy``: the tf.distribute strategy when the caller already made one (one per
    process).
    """
    from mirrorgan_keras.training import stages

    del argv
    config = config_from_flags(
        "train.batch_size", **{"train.lambda_stream": FLAGS.lambda_stream,
                               "train.lambda_damsm": FLAGS.lambda_damsm,
                               "generator.sentence_attention": FLAGS.sentence_attention},
    )
    summary = stages.train_mirrorgan(
        config, run_dir(), strategy or strategy_from_flags(), steps=FLAGS.steps,
        checkpoint_every=FLAGS.checkpoint_every, sample_every=FLAGS.sample_every,
        seed=FLAGS.seed, resume=FLAGS.resume, damsm_weights=FLAGS.damsm_weights,
        stream_weights=FLAGS.stream_weights, verbose=verbosity(),
    )
    print(json.dumps(summary, indent=1))


def run_gan_recipe(default_preset: str):
    """The MirrorGAN training recipe of a preset (train_cub.py, train_coco.py): the GAN flags
    with ``default_preset``, listed in ``--help``, then :func:`gan_main`."""
    define_gan_flags(default_preset)
    _list_in_main_help()
    app.run(gan_main)


def run_pretraining_recipe(stage: str, *, backbone: str):
    """A pretraining recipe (pretrain_damsm.py, pretrain_stream.py): the common flags (preset
    "cub"), ``--epochs`` and ``--backbone_weights`` of the ``stage`` ("damsm" or "stream", its
    config section), whose CNN ``backbone`` the help names; runs the stage and prints its
    summary as JSON."""
    define_common_flags("cub")
    flags.DEFINE_integer("epochs", None, f"Epochs (default: the preset's {stage}.epochs).",
                         lower_bound=1)
    flags.DEFINE_string("backbone_weights", None,
                        f'{backbone} weights: "imagenet" (download), a local file, or "none".')
    _list_in_main_help()
    app.run(functools.partial(_pretraining_main, stage))


def _pretraining_main(stage: str, argv):
    from mirrorgan_keras.training import stages

    del argv
    weights = {}
    if FLAGS.backbone_weights is not None:
        weights[f"{stage}.weights"] = backbone_weights(FLAGS.backbone_weights)
    config = config_from_flags(f"{stage}.batch_size", **weights)
    pretrain = {"damsm": stages.pretrain_damsm, "stream": stages.pretrain_stream}[stage]
    summary = pretrain(config, run_dir(), strategy_from_flags(), epochs=FLAGS.epochs,
                       seed=FLAGS.seed, resume=FLAGS.resume, verbose=verbosity())
    print(json.dumps(summary, indent=1))


def _list_in_main_help():
    """Lists this module's flags in the ``--help`` of the recipe being run, as
    ``flags.adopt_module_key_flags`` does when the recipe calls it."""
    for flag in FLAGS.get_key_flags_for_module(__name__):
        FLAGS.register_key_flag_for_module(sys.argv[0], flag)
