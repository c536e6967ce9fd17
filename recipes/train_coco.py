"""Trains MirrorGAN on COCO with the "coco" preset (docs/design.md §1, §8).

    python recipes/pretrain_damsm.py --preset coco --data_dir data/coco --run_dir runs/coco
    python recipes/pretrain_stream.py --preset coco --data_dir data/coco --run_dir runs/coco
    python recipes/train_coco.py --data_dir data/coco --run_dir runs/coco

Checkpoints every --checkpoint_every steps and resumes by default; --strategy mirrored uses
every visible GPU. See README.md for all flags.
"""

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

from mirrorgan_keras.training import cli

if __name__ == "__main__":
    cli.run_gan_recipe("coco")
