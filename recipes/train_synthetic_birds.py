"""Trains MirrorGAN on the synthetic birds with the CPU preset "birds_tiny".

    python recipes/train_synthetic_birds.py --run_dir runs/birds_tiny

Generates the synthetic birds into --data_dir when they are missing, pretrains DAMSM and STREAM
when their weights are missing from the run, then trains the GAN. Resumes by default.
"""

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

import os

from absl import app, flags

from mirrorgan_keras.data.synthetic_birds import generate_synthetic_birds
from mirrorgan_keras.runtime import run_files
from mirrorgan_keras.training import cli, stages

cli.define_gan_flags("birds_tiny")
flags.adopt_module_key_flags(cli)  # list the shared flags in --help
flags.DEFINE_integer("num_train", 2400, "Synthetic training images (when generating).",
                     lower_bound=1)
flags.DEFINE_integer("num_test", 600, "Synthetic test images (when generating).", lower_bound=1)
FLAGS = flags.FLAGS


def main(argv):
    # First: a multi-worker strategy must precede any TensorFlow op.
    strategy = cli.strategy_from_flags()
    config = cli.config_from_flags()
    if not os.path.exists(os.path.join(config.data.data_dir, "attributes.json")):
        generate_synthetic_birds(config.data.data_dir, num_train=FLAGS.num_train,
                                 num_test=FLAGS.num_test, image_size=96, seed=FLAGS.seed)
    files = run_files.RunFiles(cli.run_dir())

    def missing(path):  # on any worker: then all of them pretrain again (resuming)
        return not stages.exists_on_every_worker(path, strategy)

    with cli.lock_run_directory(files.root, strategy):
        if FLAGS.damsm_weights is None and missing(files.damsm):
            stages.pretrain_damsm(config, files.root, strategy, seed=FLAGS.seed,
                                  verbose=cli.verbosity())
        if FLAGS.stream_weights is None and missing(files.stream):
            stages.pretrain_stream(config, files.root, strategy, seed=FLAGS.seed,
                                   verbose=cli.verbosity())
        cli.gan_main(argv, strategy)


if __name__ == "__main__":
    app.run(main)
