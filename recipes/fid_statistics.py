"""Writes the FID statistics of a data set's real images once, as the field's ``.npz`` (``mu``,
``sigma``), for ``recipes/evaluate.py --protocol ... --real_statistics FILE``.

    python recipes/fid_statistics.py --preset cub --data_dir data/birds --split test \\
        --fid_inception pt_inception-2015-12-05-6726825d.pth --output birds_test256.npz

Every image of the split, centre-cropped and resized to the preset's largest generated size
(256² for cub and coco) as the evaluation gives the real images, through the FID network of
``--fid_network`` (docs/evaluation.md); the statistics are only valid with that network.
Statistics published by other projects (e.g. DF-GAN's) were made from other image sets.
"""

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

from absl import app, flags

from mirrorgan_keras.config import PRESETS, get_preset, override
from mirrorgan_keras.data import load_split
from mirrorgan_keras.evaluation.fid import save_statistics
from mirrorgan_keras.evaluation.fid_inception import FIDInception
from mirrorgan_keras.evaluation.protocols import real_image_statistics

flags.DEFINE_enum("preset", "cub", sorted(PRESETS), "Preset: the data set and image size.")
flags.DEFINE_string("data_dir", None, "Data set directory (default: the preset's).")
flags.DEFINE_enum("split", "test", ["test", "train"], "Whose images.")
flags.DEFINE_string("fid_inception", None, "The FID network's weights (pytorch-fid's "
                    "pt_inception-2015-12-05-6726825d.pth, torchvision's "
                    "inception_v3_google-0cc3c7bd.pth, or their .weights.h5).", required=True)
flags.DEFINE_enum("fid_network", "tf2015", ["tf2015", "torchvision"], "The FID network "
                  "(recipes/evaluate.py --fid_network).")
flags.DEFINE_string("output", None, "The .npz to write.", required=True)
flags.DEFINE_enum("verbose", "1", ["0", "1"], "Progress bar.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    config = get_preset(FLAGS.preset)
    if FLAGS.data_dir:
        config = override(config, {"data.data_dir": FLAGS.data_dir})
    records = load_split(config.data, config.text, FLAGS.split)
    inception = FIDInception(FLAGS.fid_inception, network=FLAGS.fid_network,
                             verbose=int(FLAGS.verbose))
    size = config.generator.image_sizes[-1]
    mu, sigma = real_image_statistics(records, inception, image_size=size,
                                      words_num=config.text.words_num)
    save_statistics(FLAGS.output, mu, sigma)
    print(f"{len(records)} {FLAGS.split} images at {size}² → {FLAGS.output} "
          f"(mu {mu.shape}, sigma {sigma.shape})")


if __name__ == "__main__":
    app.run(main)
