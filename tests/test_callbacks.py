import numpy as np
from PIL import Image

from mirrorgan_keras.data.vocabulary import Vocabulary
from mirrorgan_keras.training.callbacks import SampleGrid
from mirrorgan_keras.training.samples import sample_captions
from tests.models.factories import (
    batches_from,
    build_damsm,
    build_mirrorgan,
    build_stream,
    tiny_config,
)


class _Records:
    """What sample_captions reads of a DatasetSplit: captions per image and the vocabulary."""

    vocabulary = Vocabulary(["a", "red", "bird", "blue"])
    captions = [[[1, 2, 3], [1, 4]], [[4, 3]], [[2], [1, 2, 3, 3]], [[3]], [[1, 4, 3]]]

    def __len__(self):
        return len(self.captions)


def test_sample_captions_spread_over_the_split_as_padded_ids_with_text():
    ids, texts, indices = sample_captions(_Records(), 3)
    np.testing.assert_array_equal(indices, [0, 2, 4])
    np.testing.assert_array_equal(ids, [[1, 2, 3], [2, 0, 0], [1, 4, 3]])
    assert texts == ["a red bird", "red", "a blue bird"]
    ids, texts, _ = sample_captions(_Records(), 2, choose=lambda captions: captions[-1])
    np.testing.assert_array_equal(ids, [[1, 4, 0], [1, 4, 3]])
    assert texts == ["a blue", "a blue bird"]


def test_sample_grid_writes_pngs_and_tensorboard_images(tmp_path):
    config = tiny_config()
    gan = build_mirrorgan(config, build_damsm(config), build_stream(config))
    captions = np.array([[1, 2, 3, 0, 0, 0, 0, 0], [4, 5, 6, 7, 0, 0, 0, 0]], np.int32)
    reals = [np.full((16, 16, 3), 7, np.uint8), np.full((16, 16, 3), 9, np.uint8)]
    grid = SampleGrid(captions, ["a b c", "d e f g"], tmp_path / "samples", real_images=reals,
                      every_steps=2, log_dir=str(tmp_path / "logs"))
    gan.fit(batches_from(config, 4, steps=3), callbacks=[grid], verbose=0)
    written = sorted(p.name for p in (tmp_path / "samples").glob("*.png"))
    assert written == ["step_0000002.png", "step_0000003.png"]
    image = np.asarray(Image.open(tmp_path / "samples" / "step_0000002.png"))
    # 2 captions, each a text line over 2 stages and the real image; the real one bottom right
    assert image.shape == (2 * (14 + 128 + 2), 3 * (128 + 2) + 2, 3)
    assert np.all(image[-2 - 64, -2 - 64] == 9)
    assert (tmp_path / "samples" / "captions.txt").read_text() == "a b c\nd e f g\n"
    assert any((tmp_path / "logs").iterdir())
    np.testing.assert_array_equal(grid.render(), grid.render())  # fixed noise
