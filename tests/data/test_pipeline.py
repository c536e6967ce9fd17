import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from mirrorgan_keras.config import get_preset, override
from mirrorgan_keras.data.coco import read_coco
from mirrorgan_keras.data.cub import read_cub
from mirrorgan_keras.data.pipeline import (
    augment_image,
    bbox_crop_window,
    from_uint8,
    make_config_dataset,
    make_dataset,
    sample_caption,
    steps_per_epoch,
    to_uint8,
)
from tests.data.conftest import CUB_TRAIN, TEXT, write_image

SIZES = (8, 16)


def batches(dataset, count=None):
    """Numpy copies of the first ``count`` batches (all when None)."""
    dataset = dataset if count is None else dataset.take(count)
    return [tf.nest.map_structure(lambda t: t.numpy(), batch) for batch in dataset]


def assert_batches_equal(a, b):
    tf.nest.map_structure(np.testing.assert_array_equal, a, b)


@pytest.fixture
def birds(cub_tree):
    return read_cub(cub_tree, "train", TEXT)


def test_batch_format(birds):
    batch = batches(make_dataset(birds, 2, SIZES, TEXT.words_num, training=True), 1)[0]
    assert set(batch) == {"images", "captions", "caption_lengths", "class_ids", "keys"}
    assert isinstance(batch["images"], tuple)
    for size, images in zip(SIZES, batch["images"], strict=True):
        assert images.shape == (2, size, size, 3) and images.dtype == np.float32
        assert images.min() >= -1.0 and images.max() <= 1.0 and images.std() > 0.05
    assert batch["captions"].shape == (2, TEXT.words_num) and batch["captions"].dtype == np.int32
    assert batch["caption_lengths"].dtype == np.int32
    assert ((batch["caption_lengths"] >= 1) & (batch["caption_lengths"] <= TEXT.words_num)).all()
    for ids, length in zip(batch["captions"], batch["caption_lengths"], strict=True):
        assert (ids[:length] > 0).all() and (ids[length:] == 0).all()
    assert batch["class_ids"].dtype == np.int32
    assert set(batch["keys"].astype(str)) <= set(CUB_TRAIN)


@pytest.mark.parametrize("settings", [
    {"batch_size": 2, "training": False},
    {"batch_size": 2, "training": False, "epochs": 3},
    {"batch_size": 1, "training": True, "epochs": 2},
    {"batch_size": 1, "training": True, "epochs": 2, "start_step": 1},
])
def test_finite_data_sets_know_their_length(birds, settings):
    """Keras then reads them to the end without warning that the input "ran out of data"."""
    dataset = make_dataset(birds, image_sizes=SIZES, words_num=TEXT.words_num, **settings)
    assert int(dataset.cardinality()) == len(batches(dataset))


def test_static_global_batch_and_whole_epochs_when_training(birds):
    dataset = make_dataset(birds, 2, SIZES, TEXT.words_num, training=True, epochs=3)
    assert dataset.element_spec["captions"].shape == (2, TEXT.words_num)
    result = batches(dataset)
    assert len(result) == 3 * steps_per_epoch(birds, 2) == 3  # 3 images: 1 batch per epoch
    assert all(len(set(b["keys"])) == 2 for b in result)


def test_same_seed_same_batches_other_seed_other_batches(birds):
    def first(seed):
        return batches(make_dataset(birds, 3, SIZES, TEXT.words_num, training=True, seed=seed), 3)

    assert_batches_equal(first(7), first(7))
    with pytest.raises(AssertionError):
        assert_batches_equal(first(7), first(8))


def test_epochs_differ_and_start_step_resumes_exactly(birds):
    run = batches(make_dataset(birds, 3, SIZES, TEXT.words_num, training=True, seed=3), 3)
    with pytest.raises(AssertionError):
        assert_batches_equal(run[0]["images"], run[1]["images"])
    resumed = batches(make_dataset(birds, 3, SIZES, TEXT.words_num, training=True, seed=3,
                                   start_step=1), 2)
    assert_batches_equal(run[1:], resumed)


def test_start_step_resumes_in_the_middle_of_an_epoch(birds):
    per_epoch = steps_per_epoch(birds, 1)
    assert per_epoch > 2
    run = batches(make_dataset(birds, 1, SIZES, TEXT.words_num, training=True, seed=5),
                  per_epoch + 2)
    for start in (1, per_epoch - 1, per_epoch + 1):
        resumed = make_dataset(birds, 1, SIZES, TEXT.words_num, training=True, seed=5,
                               start_step=start)
        assert_batches_equal(run[start:], batches(resumed, len(run) - start))


def test_evaluation_is_one_ordered_pass_with_the_last_partial_batch(birds):
    result = batches(make_dataset(birds, 2, SIZES, TEXT.words_num, training=False))
    assert [list(b["keys"].astype(str)) for b in result] == [list(CUB_TRAIN)[:2],
                                                             list(CUB_TRAIN)[2:]]
    other_seed = batches(make_dataset(birds, 2, SIZES, TEXT.words_num, training=False, seed=5))
    assert_batches_equal([b["images"] for b in result], [b["images"] for b in other_seed])


def test_evaluation_batch_may_exceed_the_split(birds):
    (batch,) = batches(make_dataset(birds, 8, SIZES, TEXT.words_num, training=False))
    assert list(batch["keys"].astype(str)) == list(CUB_TRAIN)


def test_fewer_images_than_a_batch_is_an_error_when_training(birds):
    with pytest.raises(ValueError, match="3 train images are fewer than one batch of 4"):
        make_dataset(birds, 4, SIZES, TEXT.words_num, training=True)


def test_long_captions_give_uniform_order_preserving_subsets():
    captions = tf.ragged.constant([list(range(1, 14))], dtype=tf.int32)
    seen = set()
    for seed in range(100):
        ids, length = sample_caption(captions, 6, tf.constant([seed, 1], tf.int64))
        ids = ids.numpy()
        assert length.numpy() == 6 and (np.diff(ids) > 0).all()
        seen.update(ids)
    assert seen == set(range(1, 14))


def test_short_captions_are_padded_and_every_caption_gets_chosen():
    captions = tf.ragged.constant([[5, 6], [7], [8, 9, 10]], dtype=tf.int32)
    chosen = set()
    for seed in range(60):
        ids, length = sample_caption(captions, 4, tf.constant([seed, 2], tf.int64))
        ids = ids.numpy()
        assert ids.shape == (4,) and (ids[length:] == 0).all()
        chosen.add(tuple(ids[:length]))
    assert chosen == {(5, 6), (7,), (8, 9, 10)}


def halves_image(height=40, width=60):
    """uint8 [h, w, 3]: left half red, right half blue."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2, 0] = 255
    image[:, width // 2:, 2] = 255
    return tf.constant(image)


def test_training_flips_at_random_and_evaluation_never():
    image = halves_image()
    left_is_red = set()
    for seed in range(20):
        crop = augment_image(image, 16, tf.constant([seed, 0], tf.int64), True).numpy()
        assert crop.shape == (16, 16, 3)
        left_is_red.add(bool(crop[:, 0, 0].mean() > 0))
        evaluation = augment_image(image, 16, tf.constant([seed, 0], tf.int64), False).numpy()
        assert evaluation[:, 0, 0].mean() > 0.99 and evaluation[:, -1, 2].mean() > 0.99
    assert left_is_red == {True, False}


def test_resize_then_crop_sizes_and_centre_crop():
    # 40 x 60 → shorter side int(16·76/64) = 19 → 19 x 28; centre crop columns 6 … 21 of 28,
    # whose left 8 columns (6 … 13) are red and right 8 (14 … 21) blue.
    crop = augment_image(halves_image(), 16, tf.constant([0, 0], tf.int64), False).numpy()
    np.testing.assert_allclose(crop[:, :7, 0], 1.0, atol=1e-5)
    np.testing.assert_allclose(crop[:, 9:, 2], 1.0, atol=1e-5)


def test_smaller_stages_are_resizes_of_the_final_crop(birds):
    batch = batches(make_dataset(birds, 2, SIZES, TEXT.words_num, training=True), 1)[0]
    small, final = batch["images"]
    expected = tf.image.resize(final, [8, 8], antialias=True).numpy()
    np.testing.assert_allclose(small, expected, atol=1e-5)


def test_images_are_cropped_around_the_bounding_box(cub_tree):
    # 50 wide, 60 high, box (35.5, 30, 20, 20) → window rows 25 … 55, columns 30 … 50
    # (hand-computed in test_cub). The window is white, the rest black; PNG avoids JPEG ringing.
    key = "001.Red/red_2"
    pixels = np.zeros((60, 50, 3), np.uint8)
    pixels[25:55, 30:50] = 255
    Image.fromarray(pixels).save(os.path.join(cub_tree, "CUB_200_2011/images", key + ".jpg"), "PNG")
    boxes = os.path.join(cub_tree, "CUB_200_2011", "bounding_boxes.txt")
    with open(boxes) as f:
        lines = f.read().split("\n")
    lines[1] = "2 35.5 30 20 20"
    with open(boxes, "w") as f:
        f.write("\n".join(lines))
    records = read_cub(cub_tree, "train", TEXT)
    result = batches(make_dataset(records, 1, SIZES, TEXT.words_num, training=False))
    (cropped,) = [b["images"][1] for b in result if b["keys"][0].decode() == key]
    assert cropped.min() > 0.99


@pytest.mark.parametrize("training", [True, False])
def test_images_held_in_memory_give_the_same_batches(birds, coco_tree, training):
    """Also with images of different shapes (CUB crops around boxes, COCO without boxes)."""
    coco = read_coco(coco_tree, "train", TEXT)
    for records in (birds, coco):
        def first(cache_images, records=records):
            return batches(make_dataset(records, 2, SIZES, TEXT.words_num, training=training,
                                        seed=4, epochs=2, start_step=int(training),
                                        cache_images=cache_images))

        assert_batches_equal(first(False), first(True))


def test_images_without_boxes_use_the_whole_image(coco_tree):
    write_image(os.path.join(coco_tree, "images", "COCO_val2014_000000000042.jpg"), (30, 20),
                colour=(255, 255, 255), image_format="PNG")
    records = read_coco(coco_tree, "test", TEXT)
    batch = batches(make_dataset(records, 2, SIZES, TEXT.words_num, training=True), 1)[0]
    index = list(batch["keys"].astype(str)).index("COCO_val2014_000000000042")
    assert batch["images"][1][index].min() > 0.99


def test_config_datasets_for_the_gan_and_for_damsm_pretraining(birds):
    config = override(get_preset("birds_tiny"), {
        "train.batch_size": 2, "damsm.batch_size": 3, "damsm.image_size": 20,
        "generator.base_size": 8, "text.words_num": 5,
    })
    gan = make_config_dataset(birds, config, "gan", training=True)
    assert [spec.shape for spec in gan.element_spec["images"]] == [(2, 8, 8, 3), (2, 16, 16, 3)]
    damsm = make_config_dataset(birds, config, "damsm", training=True)
    assert [spec.shape for spec in damsm.element_spec["images"]] == [(3, 20, 20, 3)]
    assert damsm.element_spec["captions"].shape == (3, 5)
    batches(damsm, 1)
    with pytest.raises(ValueError, match="unknown purpose"):
        make_config_dataset(birds, config, "gen", training=True)


@pytest.mark.parametrize(
    ("bbox", "size", "expected"),
    [
        # r = int(0.75·325) = 243, centre (int(222.5), 179) = (222, 179): clipped at 0 and 375
        ((60.0, 27.0, 325.0, 304.0), (375, 500), (0, 0, 375, 465)),
        # r = int(0.75·40) = 30, centre (int(115.5), int(117.5)) = (115, 117): inside
        ((100.5, 97.5, 30.0, 40.0), (375, 500), (87, 85, 147, 145)),
        # r = int(0.75·20) = 15, centre (int(45.5), 40): right border clips to 50
        ((35.5, 30.0, 20.0, 20.0), (60, 50), (25, 30, 55, 50)),
    ],
)
def test_bbox_crop_window_matches_hand_computed_values(bbox, size, expected):
    window = bbox_crop_window(tf.constant(bbox, tf.float64), *size)
    assert window.dtype == tf.int32
    assert tuple(window.numpy()) == expected


def test_from_uint8_scales_to_the_tanh_range_and_to_uint8_inverts_it():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    # the reference: x / 127.5 - 1 in float64, rounded once to float32
    expected = (pixels.astype(np.float64) / 127.5 - 1.0).astype(np.float32)
    scaled = from_uint8(pixels)
    assert isinstance(scaled, np.ndarray) and scaled.dtype == np.float32
    np.testing.assert_array_equal(scaled, expected)
    in_graph = tf.function(from_uint8)(tf.constant(pixels))  # Grappler may rewrite the division
    np.testing.assert_allclose(in_graph.numpy(), expected, rtol=0, atol=1.2e-7)
    np.testing.assert_array_equal(np.asarray(to_uint8(scaled)), pixels)
    assert (scaled.min(), scaled.max()) == (-1.0, 1.0)


def test_to_uint8_maps_the_tanh_range_in_eager_and_graph_code():
    values = np.array([-1.0, -0.999, 0.0, 0.5, 1.0, 3.0, -2.0], np.float32)
    expected = np.floor(np.clip((values.astype(np.float64) + 1) * 127.5 + 0.5, 0, 255))
    eager = to_uint8(values)
    graph = tf.function(to_uint8)(tf.constant(values))
    for converted in (eager, graph):
        assert np.asarray(converted).dtype == np.uint8
        np.testing.assert_array_equal(np.asarray(converted), expected)
    np.testing.assert_array_equal(np.asarray(to_uint8(values[:3])), [0, 0, 128])
