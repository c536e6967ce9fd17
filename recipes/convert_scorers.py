"""Converts the field's scoring networks once into Keras ``.weights.h5`` files, read afterwards
without PyTorch or TensorFlow's checkpoint reader (docs/evaluation.md).

    python recipes/convert_scorers.py --fid_inception pt_inception-2015-12-05-6726825d.pth \\
        --output scorers/fid_inception.weights.h5
    python recipes/convert_scorers.py --fid_inception inception_v3_google-0cc3c7bd.pth \\
        --fid_network torchvision --output scorers/fid_torchvision.weights.h5
    python recipes/convert_scorers.py \\
        --birds_inception inception_finetuned_models/birds_valid299/model.ckpt-5000 \\
        --output scorers/birds_inception.weights.h5

Beside the output it writes ``<output>.source.json`` (the source file and its SHA-256), which
``recipes/evaluate.py --protocol`` reads to check that the conversion was made from the
published file. A ``.pth`` needs torch: ``pip install -e '.[torch]'``.
"""

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

from absl import app, flags

from mirrorgan_keras.convert import CheckpointConversionError
from mirrorgan_keras.convert.fid_inception import FID_NETWORKS, convert_fid_inception
from mirrorgan_keras.convert.provenance import file_record, record_conversion_source
from mirrorgan_keras.convert.slim_inception import save_slim_inception_weights

flags.DEFINE_string("fid_inception", None, "A FID network's PyTorch state dict (.pth).")
flags.DEFINE_enum("fid_network", "tf2015", sorted(FID_NETWORKS), "Which FID network the .pth "
                  "is: tf2015 (pytorch-fid's) or torchvision (ImageNet, DM-GAN / DF-GAN).")
flags.DEFINE_string("birds_inception", None, "StackGAN's birds Inception TF checkpoint prefix "
                    "(model.ckpt-5000).")
flags.DEFINE_string("output", None, "The .weights.h5 file to write.", required=True)
flags.mark_flags_as_mutual_exclusive(["fid_inception", "birds_inception"], required=True)
FLAGS = flags.FLAGS


def main(argv):
    del argv
    source = FLAGS.fid_inception or FLAGS.birds_inception
    try:
        if FLAGS.fid_inception:
            convert_fid_inception(source, FLAGS.output, FLAGS.fid_network)
        else:
            save_slim_inception_weights(source, FLAGS.output)
    except (CheckpointConversionError, FileNotFoundError, ValueError) as error:
        raise SystemExit(f"convert_scorers.py: {error}") from None
    record_conversion_source(FLAGS.output, source)
    record = file_record(FLAGS.output)
    print(f"{source} (SHA-256 {record['converted_from']['sha256']})\n"
          f"→ {FLAGS.output} (SHA-256 {record['sha256']})")


if __name__ == "__main__":
    app.run(main)
