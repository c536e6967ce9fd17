"""Pretrains the STREAM captioner on real images, docs/design.md §7.

    python recipes/pretrain_stream.py --preset cub --data_dir data/birds --run_dir runs/cub

Writes <run_dir>/stream.weights.h5 and prints the test cross-entropy (check it before GAN
training). Uses the vocabulary of the data set, the same one DAMSM uses.
"""

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

from mirrorgan_keras.training import cli

if __name__ == "__main__":
    cli.run_pretraining_recipe("stream", backbone="ResNet-152")
