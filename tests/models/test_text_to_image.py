"""TextToImage: from a run and from its export, the same images; batches, seeds, attention,
empty and mixed batches."""

import json

import numpy as np
import pytest
import tensorflow as tf

from mirrorgan_keras.models.export import METADATA_FILE
from mirrorgan_keras.models.text_to_image import GeneratedImages, TextToImage

CAPTIONS = ["this bird has a red crown, blue wings and a yellow belly", "A blue bird!"]


@pytest.fixture(scope="module")
def in_memory(tiny_run):
    return TextToImage.from_run(tiny_run)


@pytest.fixture(scope="module")
def exported(tiny_export):
    """The export of the same run, loaded: (version directory, TextToImage)."""
    return tiny_export, TextToImage.from_export(tiny_export.parent)


def test_from_run_and_from_export_give_the_same_images(in_memory, exported):
    path, loaded = exported
    assert path.name == "1" and loaded.signature_names == in_memory.signature_names == [
        "generate_from_noise", "generate_from_seed", "serving_default"]
    images = in_memory.generate(CAPTIONS, seed=3, num_samples=2)
    assert images.shape == (4, 32, 32, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(loaded.generate(CAPTIONS, seed=3, num_samples=2), images)
    caption_major = [CAPTIONS[0], CAPTIONS[0], CAPTIONS[1], CAPTIONS[1]]
    signature = loaded.graph.signatures["generate_from_seed"]
    outputs = signature(captions=tf.constant(caption_major), seed=tf.constant(3, tf.int64))
    np.testing.assert_array_equal(outputs["images"], images)
    with pytest.raises(TypeError, match="loaded from an export"):
        loaded.export(path.parent)


def test_export_writes_the_version_with_the_config(in_memory, tmp_path):
    assert in_memory.export(tmp_path, version=4) == tmp_path / "4"
    metadata = json.loads((tmp_path / "4" / METADATA_FILE).read_text())
    assert metadata["config"]["name"] == "tiny" and metadata["words_num"] == 8


def test_seeds_reproduce_and_none_draws_fresh_noise(in_memory):
    first = in_memory.generate(CAPTIONS[1], seed=5)
    assert first.shape == (1, 32, 32, 3)
    np.testing.assert_array_equal(in_memory.generate([CAPTIONS[1]], seed=5), first)
    assert np.any(in_memory.generate(CAPTIONS[1], seed=6) != first)
    assert np.any(in_memory.generate(CAPTIONS[1]) != in_memory.generate(CAPTIONS[1]))
    samples = in_memory.generate(CAPTIONS[1], seed=5, num_samples=3)
    assert len({sample.tobytes() for sample in samples}) == 3
    with pytest.raises(ValueError, match="num_samples"):
        in_memory.generate(CAPTIONS, num_samples=0)


def test_attention_stages_and_kept_words(in_memory, exported):
    generated = in_memory.generate(CAPTIONS, seed=1, return_attention=True)
    assert isinstance(generated, GeneratedImages)
    assert [stage.shape for stage in generated.stages] == [(2, 16, 16, 3), (2, 32, 32, 3)]
    np.testing.assert_array_equal(generated.stages[-1], generated.images)
    assert [maps.shape for maps in generated.attention] == [(2, 8, 16, 16)]
    assert generated.tokens == [["this", "bird", "has", "a", "red", "crown", "blue", "wings"],
                                ["a", "blue", "bird"]]  # cut to words_num = 8
    maps = generated.attention[0][1]
    np.testing.assert_allclose(maps[:3].sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(maps[3:], 0.0)  # padding rows
    loaded = exported[1].generate(CAPTIONS, seed=1, return_attention=True)
    np.testing.assert_array_equal(loaded.attention[0], generated.attention[0])
    assert loaded.tokens == generated.tokens


@pytest.mark.parametrize("source", ["in_memory", "exported"])
def test_no_captions_give_an_empty_batch(source, request):
    model = request.getfixturevalue(source)
    model = model[1] if source == "exported" else model
    assert model.generate([], seed=0).shape == (0, 32, 32, 3)
    generated = model.generate([], return_attention=True)
    assert generated.images.dtype == np.uint8 and generated.tokens == []
    assert [maps.shape for maps in generated.attention] == [(0, 8, 16, 16)]


def test_a_caption_without_known_words_fails_the_batch_and_is_found_first(in_memory, exported):
    captions = ["a red bird", "zebra stripes", "", "yellow", "?!"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="zebra stripes"):
        in_memory.generate(captions, seed=0)
    for model in (in_memory, exported[1]):
        assert model.captions_without_known_words(captions) == ["zebra stripes", "", "?!"]
        assert model.captions_without_known_words([]) == []


def edited_copy(run, target, key: str, value):
    """``run`` copied to ``target`` with ``config.json``'s ``key`` (section.name) set by hand."""
    import shutil

    shutil.copytree(run, target, ignore=shutil.ignore_patterns(".lock"))
    recorded = json.loads((target / "config.json").read_text())
    section, name = key.split(".")
    recorded["config"][section][name] = value
    (target / "config.json").write_text(json.dumps(recorded))
    return target


def test_a_hand_edited_config_is_named_not_a_keras_load_error(tiny_run, tmp_path):
    from mirrorgan_keras.runtime.run_files import RunConfigMismatchError

    run = edited_copy(tiny_run, tmp_path / "edited", "generator.ngf", 32)
    with pytest.raises(RunConfigMismatchError, match=(
            r"generator_ema\.weights\.h5 does not fit the model .*config\.json describes.*"
            r"restore config\.json to the values the weights were trained with")):
        TextToImage.from_run(run)
