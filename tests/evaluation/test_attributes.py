"""Tests for mirrorgan_keras.evaluation.attributes."""

import os
import time

import keras
import numpy as np
import pytest

from mirrorgan_keras.data import synthetic_birds as sb
from mirrorgan_keras.evaluation import (
    NOT_MENTIONED,
    ORACLE_ATTRIBUTES,
    attribute_accuracy,
    attribute_report,
    caption_labels,
    draw_labelled_birds,
    format_attribute_report,
    load_oracle,
    mask_unmentioned,
    masked_accuracy,
    mentioned_attributes,
    misplaced_colours,
    read_attribute_labels,
    read_caption,
    read_synthetic_images,
    save_oracle,
    synthetic_split_keys,
    train_oracle,
)

# ----------------------------------------------------------------------------- captions


@pytest.mark.parametrize(
    "caption, expected",
    [
        ("this bird has blue wings, a white belly, a stubby tail and a long beak.",
         {"wing": "blue", "belly": "white", "tail": "short", "beak": "large"}),
        ("the bird is mostly blue with a red crown, and its bill is large.",
         {"wing": "blue", "crown": "red", "beak": "large"}),
        ("this bird is resting on a branch and has a white underside, and its wings are blue.",
         {"pose": "perched", "belly": "white", "wing": "blue"}),
        ("a bird with blue wing feathers, a short pointed bill and a grey breast.",
         {"wing": "blue", "beak": "small", "belly": "grey"}),
        ("a red crowned bird with long tail feathers.", {"crown": "red", "tail": "long"}),
        ("an orange bellied bird in flight with a tiny bill, and its head is black.",
         {"belly": "orange", "pose": "flying", "beak": "small", "crown": "black"}),
        ("a bird with a blue back and a long tail.", {"wing": "blue", "tail": "long"}),
        ("a bird with a yellow tail.", {"wing": "yellow"}),
        ("a bird.", {}),
    ],
)
def test_mentioned_attributes_of_hand_written_captions(caption, expected):
    assert mentioned_attributes(caption) == expected


def test_mentioned_attributes_reject_contradicting_captions():
    with pytest.raises(ValueError, match="crown is red and blue"):
        mentioned_attributes("a bird with a red crown, and its head is blue.")


def test_mentioned_attributes_of_generated_captions_are_true_and_complete():
    """On describe_bird's captions: every stated value is the bird's, and nothing is missed.

    The crown, wing and belly colours differ, so each colour word in a caption must be
    attributed; a caption naming the beak, tail or pose must have it parsed.
    """
    rng = np.random.default_rng(7)
    cues = {"beak": ("beak", "bill"), "tail": ("tail",),
            "pose": ("branch", "flying", "flight")}  # fmt: skip
    for _ in range(60):
        crown, wing, belly = rng.choice(sb.COLOURS, 3, replace=False)
        attributes = sb.BirdAttributes(
            str(crown), str(wing), str(belly),
            **{name: str(rng.choice(sb.ATTRIBUTE_VOCABULARIES[name]))
               for name in ("beak", "tail", "pose")},
        )  # fmt: skip
        for caption in sb.describe_bird(attributes, rng, 10):
            found = mentioned_attributes(caption)
            assert read_caption(caption).unread == (), caption  # every value word is read
            assert all(getattr(attributes, name) == value for name, value in found.items())
            words = caption.replace(",", " ").replace(".", " ").split()
            named_colours = {word for word in words if word in sb.COLOURS}
            found_colours = {found[p] for p in ("crown", "wing", "belly") if p in found}
            assert found_colours == named_colours, caption
            for name, words_of_cue in cues.items():
                assert (name in found) == any(w in words for w in words_of_cue), caption
            assert len(found) >= 2


def test_caption_labels_and_masking():
    captions = ["a bird with a red crown and a long tail.", "a flying bird with blue wings."]
    stated = caption_labels(captions)
    red, blue = sb.COLOURS.index("red"), sb.COLOURS.index("blue")
    assert stated["crown"].tolist() == [red, NOT_MENTIONED]
    assert stated["wing"].tolist() == [NOT_MENTIONED, blue]
    assert stated["pose"].tolist() == [NOT_MENTIONED, sb.POSES.index("flying")]
    labels = {name: np.array([0, 1]) for name in ORACLE_ATTRIBUTES}
    labels.update(crown=np.array([red, 3]), wing=np.array([2, blue]), tail=np.array([1, 0]),
                  pose=np.array([0, 1]))
    masked = mask_unmentioned(labels, captions)
    assert masked["crown"].tolist() == [red, NOT_MENTIONED]
    assert masked["tail"].tolist() == [1, NOT_MENTIONED]
    assert masked["belly"].tolist() == [NOT_MENTIONED, NOT_MENTIONED]
    with pytest.raises(ValueError, match="aligned"):
        mask_unmentioned(labels, captions[::-1])


def test_masked_accuracy_counts_only_mentioned_labels():
    labels = {name: np.array([0, 1, NOT_MENTIONED, 1]) for name in ORACLE_ATTRIBUTES}
    labels["pose"] = np.full(4, NOT_MENTIONED)
    predictions = {name: np.array([0, 0, 1, 1]) for name in ORACLE_ATTRIBUTES}
    predictions["crown"] = np.array([0, 1, 0, 1])
    scores = masked_accuracy(predictions, labels)
    assert scores["crown"] == 1.0 and scores["wing"] == pytest.approx(2 / 3)
    assert np.isnan(scores["pose"])
    assert scores["mean"] == pytest.approx((1 + 4 * 2 / 3) / 5)


def test_misplaced_colours_are_wrong_colours_the_caption_names_for_another_part():
    red, blue, green = (sb.COLOURS.index(c) for c in ("red", "blue", "green"))
    # Four images asked for a red crown, blue wings and (images 0-2) a green belly.
    labels = {name: np.full(4, NOT_MENTIONED) for name in ORACLE_ATTRIBUTES}
    labels.update(crown=np.full(4, red), wing=np.full(4, blue),
                  belly=np.array([green, green, green, NOT_MENTIONED]))
    predictions = {name: np.zeros(4, int) for name in ORACLE_ATTRIBUTES}
    predictions.update(
        crown=np.array([red, blue, green, green]),  # right; wing's; belly's; not asked for
        wing=np.array([blue, blue, red, sb.COLOURS.index("white")]),  # 2 right; crown's; none
        belly=np.array([green, red, blue, red]),  # right; crown's; wing's; (not counted)
    )
    misplaced = misplaced_colours(predictions, labels)
    assert misplaced == {"crown": pytest.approx(2 / 4), "wing": pytest.approx(1 / 4),
                         "belly": pytest.approx(2 / 3)}
    accuracy = masked_accuracy(predictions, labels)
    assert accuracy["crown"] + misplaced["crown"] == pytest.approx(3 / 4)  # one unnamed colour
    labels["crown"][:] = NOT_MENTIONED
    assert np.isnan(misplaced_colours(predictions, labels)["crown"])


# ------------------------------------------------------------------------------- oracle


@pytest.fixture(scope="module")
def oracle_and_time():
    keras.utils.set_random_seed(0)
    images, labels = draw_labelled_birds(600, seed=0)
    start = time.process_time()  # CPU seconds of all threads: unaffected by other workers
    oracle = train_oracle(images, labels, epochs=25)
    return oracle, time.process_time() - start


@pytest.fixture(scope="module")
def fresh_birds():
    return draw_labelled_birds(300, seed=1)


def test_oracle_trains_quickly_and_is_accurate_on_fresh_real_birds(oracle_and_time, fresh_birds):
    oracle, seconds = oracle_and_time
    scores = attribute_accuracy(oracle, *fresh_birds)
    print(f"oracle: trained in {seconds:.1f} CPU s, accuracy on fresh birds {scores}")
    assert seconds < 2 * 60  # under a minute of both cores of the 2-core machine
    assert scores["mean"] > 0.9
    assert min(scores[name] for name in ORACLE_ATTRIBUTES) > 0.85


def test_oracle_scores_larger_images_and_survives_save_and_load(oracle_and_time, tmp_path):
    oracle, _ = oracle_and_time
    images, labels = draw_labelled_birds(60, image_size=128, seed=2)
    path = str(tmp_path / "oracle.keras")
    save_oracle(oracle, path)
    loaded = load_oracle(path)
    assert attribute_accuracy(loaded, images, labels) == attribute_accuracy(oracle, images, labels)
    assert os.listdir(tmp_path) == ["oracle.keras"]
    with pytest.raises(ValueError, match=".keras"):
        save_oracle(oracle, str(tmp_path / "oracle.h5"))


def test_report_puts_real_accuracy_beside_generated(oracle_and_time, fresh_birds, rng):
    oracle, _ = oracle_and_time
    images, labels = fresh_birds
    labels = {**labels, "pose": np.full(len(images), NOT_MENTIONED)}
    noise = rng.uniform(-1, 1, images.shape).astype(np.float32)
    report = attribute_report(oracle, images, noise, labels)
    assert report["counted"]["pose"] == 0 and report["counted"]["crown"] == len(images)
    assert report["real"]["mean"] > report["generated"]["mean"] + 0.3
    table = format_attribute_report(report)
    assert table.splitlines()[0].split() == ["attribute", "images", "real", "generated",
                                             "misplaced"]
    assert set(report["misplaced"]) == {"crown", "wing", "belly"}
    assert all(0 <= report["misplaced"][part] <= 1 - report["generated"][part]
               for part in report["misplaced"])
    crown_row = table.splitlines()[1].split()
    assert float(crown_row[-1]) == pytest.approx(report["misplaced"]["crown"], abs=1e-3)
    assert "nan" in table.splitlines()[ORACLE_ATTRIBUTES.index("pose") + 1]


# ------------------------------------------------------------------------------ data set


def test_reads_labels_images_and_captions_of_a_generated_data_set(tmp_path):
    data_dir = str(tmp_path / "birds")
    info = sb.generate_synthetic_birds(data_dir, num_train=9, num_test=4, image_size=64,
                                       captions_per_image=3, num_workers=1)
    keys = synthetic_split_keys(data_dir, "test")
    assert keys == list(info.test_filenames)
    images = read_synthetic_images(data_dir, keys)
    assert images.shape == (4, 64, 64, 3) and images.min() >= -1 and images.max() <= 1
    labels = read_attribute_labels(data_dir, keys)
    assert set(labels) == set(ORACLE_ATTRIBUTES)
    for caption_index in range(3):  # each caption of each image agrees with its labels
        captions = []
        for key in keys:
            with open(os.path.join(data_dir, "text", key + ".txt")) as f:
                captions.append(f.read().splitlines()[caption_index])
        masked = mask_unmentioned(labels, captions)
        assert sum(np.sum(masked[name] != NOT_MENTIONED) for name in ORACLE_ATTRIBUTES) >= 8
    with pytest.raises(KeyError, match="no labels"):
        read_attribute_labels(data_dir, ["999.none/bird_99999"])
    with pytest.raises(FileNotFoundError, match="attributes.json"):
        synthetic_split_keys(str(tmp_path))
