"""Pretrains the STREAM captioner on real images, docs/design.md §7.

    python recipes/pretrain_stream.py --preset cub --data_dir data/birds --run_dir runs/cub

Writes <run_dir>/stream.weights.h5 and prints the test cross-entropy (check it before GAN
training). Uses the vocabulary of the data set, the same one DAMSM uses.
"""

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

import json

from absl import app, flags

from mirrorgan_keras.training import cli, stages

cli.define_common_flags("cub")
flags.adopt_module_key_flags(cli)  # list the shared flags in --help
flags.DEFINE_integer("epochs", None, "Epochs (default: the preset's stream.epochs).", lower_bound=1)
flags.DEFINE_string("backbone_weights", None,
                    'ResNet-152 weights: "imagenet" (download), a local file, or "none".')
FLAGS = flags.FLAGS


def main(argv):
    del argv
    stage = {}
    if FLAGS.backbone_weights is not None:
        stage["stream.weights"] = cli.backbone_weights(FLAGS.backbone_weights)
    config = cli.config_from_flags("stream.batch_size", **stage)
    summary = stages.pretrain_stream(config, cli.run_dir(), cli.strategy_from_flags(),
                                     epochs=FLAGS.epochs, seed=FLAGS.seed, resume=FLAGS.resume,
                                     verbose=cli.verbosity())
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    app.run(main)
