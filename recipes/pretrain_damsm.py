"""Pretrains DAMSM (STEM text encoder + Inception region encoder), docs/design.md §4.

    python recipes/pretrain_damsm.py --preset cub --data_dir data/birds --run_dir runs/cub

Writes <run_dir>/damsm.weights.h5; checkpoints every epoch and resumes by default.
"""

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

from mirrorgan_keras.training import cli

if __name__ == "__main__":
    cli.run_pretraining_recipe("damsm", backbone="Inception")
