"""Pretrains DAMSM (STEM text encoder + Inception region encoder), docs/design.md §4.

    python recipes/pretrain_damsm.py --preset cub --data_dir data/birds --run_dir runs/cub

Writes <run_dir>/damsm.weights.h5; checkpoints every epoch and resumes by default.
"""

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

import json

from absl import app, flags

from mirrorgan_keras.training import cli, stages

cli.define_common_flags("cub")
flags.adopt_module_key_flags(cli)  # list the shared flags in --help
flags.DEFINE_integer("epochs", None, "Epochs (default: the preset's damsm.epochs).", lower_bound=1)
flags.DEFINE_string("backbone_weights", None,
                    'Inception weights: "imagenet" (download), a local file, or "none".')
FLAGS = flags.FLAGS


def main(argv):
    del argv
    stage = {}
    if FLAGS.backbone_weights is not None:
        stage["damsm.weights"] = cli.backbone_weights(FLAGS.backbone_weights)
    config = cli.config_from_flags("damsm.batch_size", **stage)
    summary = stages.pretrain_damsm(config, cli.run_dir(), cli.strategy_from_flags(),
                                    epochs=FLAGS.epochs, seed=FLAGS.seed, resume=FLAGS.resume,
                                    verbose=cli.verbosity())
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    app.run(main)
