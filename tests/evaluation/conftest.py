"""The tiny trained run the scoring, protocol and caption tests evaluate, and an oracle."""

import pytest

from mirrorgan_keras import evaluation
from mirrorgan_keras.config import override
from mirrorgan_keras.data import load_split
from mirrorgan_keras.data.synthetic_birds import generate_synthetic_birds
from mirrorgan_keras.training import stages
from tests.models.factories import tiny_config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny trained run on 27 + 12 synthetic birds (9 training classes of 3 images):
    (run_dir, config, test records)."""
    root = tmp_path_factory.mktemp("scoring")
    generate_synthetic_birds(root / "data", num_train=27, num_test=12, image_size=64,
                             num_workers=1, num_train_classes=9)
    config = override(tiny_config(), {
        "data.dataset": "synthetic_birds", "data.data_dir": str(root / "data"),
        "text.words_num": 18, "train.batch_size": 4, "damsm.batch_size": 4,
        "train.lambda_stream": 0.0, "train.lambda_damsm": 0.0})
    stages.pretrain_damsm(config, root / "run", epochs=1, verbose=0)
    stages.train_mirrorgan(config, root / "run", steps=1, verbose=0)
    return root / "run", config, load_split(config.data, config.text, "test")


@pytest.fixture(scope="module")
def oracle_file(tmp_path_factory):
    """An (inaccurate) oracle trained in seconds: the scores only need to be computable."""
    path = str(tmp_path_factory.mktemp("oracle") / "oracle.keras")
    evaluation.save_oracle(evaluation.train_oracle(*evaluation.draw_labelled_birds(32),
                                                   epochs=1), path)
    return path
