"""Trains MirrorGAN on CUB with the "cub" preset (docs/design.md §1, §8).

    python recipes/pretrain_damsm.py --preset cub --data_dir data/birds --run_dir runs/cub
    python recipes/pretrain_stream.py --preset cub --data_dir data/birds --run_dir runs/cub
    python recipes/train_cub.py --data_dir data/birds --run_dir runs/cub

Checkpoints every --checkpoint_every steps and resumes by default; --strategy mirrored uses
every visible GPU. See README.md for all flags.
"""

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

from mirrorgan_keras.training import cli

if __name__ == "__main__":
    cli.run_gan_recipe("cub")
