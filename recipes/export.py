"""Exports a trained run's EMA generator as a versioned SavedModel for TF Serving.

    python recipes/export.py --run_dir runs/demo                   # → runs/demo/export/1/
    python recipes/export.py --run_dir runs/cub --export_dir /models/mirrorgan

The SavedModel takes raw captions (tf.string [B]): the tokenizer, the vocabulary, the STEM text
encoder and the EMA generator are all in the graph. Signatures: serving_default (captions →
uint8 images), generate_from_seed (+ int64 seed → every stage, word-attention maps, tokens) and
generate_from_noise (+ z and the CA noise). See docs/serving.md. The vocabulary is
the run's vocabulary.txt: no data set is needed. Runs written before runs recorded their
vocabulary have none; their data set's is read then (--data_dir if it moved), or recorded in the
run once with recipes/record_vocabulary.py.
"""

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

import json

from absl import app, flags

from mirrorgan_keras.models.text_to_image import TextToImage

flags.DEFINE_string("run_dir", None, "Run directory with config.json, damsm.weights.h5 and "
                    "generator_ema.weights.h5.", required=True)
flags.DEFINE_string("export_dir", None, "Base directory of the versions (default "
                    "<run_dir>/export).")
flags.DEFINE_integer("version", None, "Version number (default: one above the highest).",
                     lower_bound=1)
flags.DEFINE_string("data_dir", None, "Data set directory (default: the run's), read only "
                    "for a run without vocabulary.txt.")
flags.DEFINE_string("damsm_weights", None, "The DAMSM the run was trained with (default "
                    "<run_dir>/damsm.weights.h5).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    model = TextToImage.from_run(FLAGS.run_dir, data_dir=FLAGS.data_dir,
                                 damsm_weights=FLAGS.damsm_weights)
    path = model.export(FLAGS.export_dir or f"{FLAGS.run_dir}/export", FLAGS.version)
    print(json.dumps({"saved_model": str(path), "signatures": model.signature_names}))


if __name__ == "__main__":
    app.run(main)
