"""Records the vocabulary of a run written before runs recorded theirs, from its data set.

    python recipes/record_vocabulary.py --run_dir runs/old --data_dir data/birds

Every training stage writes <run_dir>/vocabulary.txt when it starts; runs written before that
have none, and TextToImage.from_run, export.py and generate.py then need the run's data set
for the vocabulary. This writes it once (the vocabulary of the data set in --data_dir, default
the run's), so that the run works without the data set, e.g. copied to another machine. A run
that has a vocabulary.txt keeps it; when the data set's differs, the recipe says so and writes
nothing. See docs/training.md.
"""

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

import json

from absl import app, flags

from mirrorgan_keras.data import load_split
from mirrorgan_keras.data.vocabulary import check_run_vocabulary
from mirrorgan_keras.runtime.run_files import RunFiles, hold_run_lock, load_run_config

flags.DEFINE_string("run_dir", None, "Run directory with config.json.", required=True)
flags.DEFINE_string("data_dir", None, "The data set the run was trained on (default: the "
                    "run's).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    files = RunFiles(FLAGS.run_dir)
    config = load_run_config(files.root, FLAGS.data_dir)
    vocabulary = load_split(config.data, config.text, "train").vocabulary
    with hold_run_lock(files):
        check_run_vocabulary(files, vocabulary, config.data.data_dir)
        vocabulary.save(str(files.vocabulary))
    print(json.dumps({"vocabulary": str(files.vocabulary), "vocab_size": vocabulary.size}))


if __name__ == "__main__":
    app.run(main)
