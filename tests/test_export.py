"""The SavedModel export: signatures, reproducibility, empty batches, and a round trip in a
fresh process."""

import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from mirrorgan_keras.data.pipeline import to_uint8
from mirrorgan_keras.data.vocabulary import Vocabulary
from mirrorgan_keras.models import GLAMGenerator
from mirrorgan_keras.models.export import (
    export_saved_model,
    latest_export,
    load_exported,
    next_version,
)
from mirrorgan_keras.models.text_to_image import TextToImageModule
from tests.models.factories import VOCAB, build_damsm, tiny_config

WORDS = [f"w{i}" for i in range(VOCAB - 2)]
CAPTIONS = ["w1 w2 w3 w4", "W5, w6 and w7!", "w8 unknown w9 w10 w11 w12 w13 w14 w15 w16 w17"]


@pytest.fixture(scope="module")
def model():
    config = tiny_config()
    damsm = build_damsm(config)
    generator = GLAMGenerator.from_mirrorgan_config(config, seed=3)
    return TextToImageModule(Vocabulary(WORDS), damsm.text_encoder, generator,
                             config.text.words_num)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    return export_saved_model(model, tmp_path_factory.mktemp("export"), metadata={"run": "x"})


def in_memory_images(model, captions, noise, condition_noise):
    """What the generator makes without the export: ids → STEM → generator → uint8."""
    ids, _ = model.tokenizer(tf.constant(captions))
    words, sentence = model.models.text_encoder(ids, training=False)
    outputs = model.models.generator(sentence, words, ids != 0, noise=noise,
                                     condition_noise=condition_noise, training=False)
    return [to_uint8(images) for images in outputs["images"]]


def test_fresh_process_gives_the_in_memory_images(model, exported, tmp_path):
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((3, 8)).astype(np.float32)
    condition_noise = rng.standard_normal((3, 8)).astype(np.float32)
    np.savez(tmp_path / "noise.npz", noise=noise, condition_noise=condition_noise)
    script = textwrap.dedent(f"""
        import numpy as np
        import tensorflow as tf
        import tensorflow_text  # registers the tokenizer's ops
        model = tf.saved_model.load({str(exported)!r})
        inputs = np.load({str(tmp_path / "noise.npz")!r})
        outputs = model.signatures["generate_from_noise"](
            captions=tf.constant({CAPTIONS!r}), noise=tf.constant(inputs["noise"]),
            condition_noise=tf.constant(inputs["condition_noise"]))
        np.savez({str(tmp_path / "out.npz")!r},
                 **{{name: value.numpy() for name, value in outputs.items()}})
        none, seed = tf.constant([], tf.string), tf.constant(0, tf.int64)
        empty = {{
            "serving_default": model.signatures["serving_default"](captions=none),
            "generate_from_seed": model.signatures["generate_from_seed"](captions=none, seed=seed),
            "generate_from_noise": model.signatures["generate_from_noise"](
                captions=none, noise=tf.zeros([0, 8]), condition_noise=tf.zeros([0, 8])),
        }}
        np.savez({str(tmp_path / "empty.npz")!r},
                 **{{f"{{signature}}.{{name}}": value.numpy()
                    for signature, outputs in empty.items() for name, value in outputs.items()}})
    """)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=300)
    loaded = np.load(tmp_path / "out.npz", allow_pickle=True)  # tokens are bytes objects
    expected = in_memory_images(model, CAPTIONS, noise, condition_noise)
    for i, images in enumerate(expected):
        assert loaded[f"stage{i}"].dtype == np.uint8
        np.testing.assert_array_equal(loaded[f"stage{i}"], images)
    np.testing.assert_array_equal(loaded["images"], expected[-1])
    assert loaded["attention1"].shape == (3, 8, 16, 16)
    assert loaded["tokens"][1].tolist()[:4] == [b"w5", b"w6", b"w7", b""]  # "and" is unknown
    assert loaded["tokens"][2].tolist() == [f"w{i}".encode() for i in range(8, 16)]
    empty = np.load(tmp_path / "empty.npz", allow_pickle=True)
    expected_shapes = {"images": (0, 32, 32, 3), "stage0": (0, 16, 16, 3),
                       "stage1": (0, 32, 32, 3), "attention1": (0, 8, 16, 16), "tokens": (0, 8)}
    assert {name: empty[name].shape for name in empty} == {
        "serving_default.images": (0, 32, 32, 3),
        **{f"{signature}.{name}": shape for signature in ("generate_from_seed",
                                                          "generate_from_noise")
           for name, shape in expected_shapes.items()}}
    assert empty["serving_default.images"].dtype == np.uint8


def test_seed_signature_is_reproducible_and_seeds_differ(exported):
    loaded = load_exported(exported.parent)
    generate = loaded.signatures["generate_from_seed"]
    captions = tf.constant(CAPTIONS[:2])
    first = generate(captions=captions, seed=tf.constant(5, tf.int64))
    again = generate(captions=captions, seed=tf.constant(5, tf.int64))
    other = generate(captions=captions, seed=tf.constant(6, tf.int64))
    np.testing.assert_array_equal(first["images"], again["images"])
    assert np.any(first["images"].numpy() != other["images"].numpy())
    attention = first["attention1"].numpy()
    np.testing.assert_allclose(attention[0, :4].sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(attention[0, 4:], 0.0)  # padding gets no attention


def test_serving_default_takes_strings_and_returns_uint8(exported):
    loaded = load_exported(exported)
    outputs = loaded.signatures["serving_default"](captions=tf.constant(CAPTIONS))
    assert list(outputs) == ["images"]
    assert outputs["images"].dtype == tf.uint8 and outputs["images"].shape == (3, 32, 32, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="without any vocabulary word"):
        loaded.signatures["serving_default"](captions=tf.constant(["nothing known here"]))


def test_saved_model_cli_lists_the_signatures(exported):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--dir", str(exported), "--all"], check=True,
                           capture_output=True, text=True, timeout=300,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}).stdout
    for name in ("serving_default", "generate_from_seed", "generate_from_noise"):
        assert f"signature_def['{name}']" in shown
    assert "DT_STRING" in shown and "DT_UINT8" in shown


def test_versions_count_up_and_are_never_overwritten(model, exported):
    export_dir = exported.parent
    assert exported.name == "1" and (exported / "assets.extra" / "mirrorgan.json").exists()
    assert next_version(export_dir) == 2
    assert latest_export(export_dir) == exported
    with pytest.raises(FileExistsError):
        export_saved_model(model, export_dir, version=1)
    assert sorted(p.name for p in export_dir.iterdir()) == ["1"]  # no staging left behind


@pytest.mark.parametrize("signature, inputs, message", [
    ("serving_default", {"captions": tf.constant("w1 w2")},
     r"captions: expected shape \[any\] \(one string per image\), got shape \[\]"),
    ("generate_from_seed", {"captions": tf.constant([["w1"], ["w2"]]),
                            "seed": tf.constant(0, tf.int64)},
     r"captions: expected shape \[any\] .*got shape \[2 1\]"),
    ("generate_from_noise", {"captions": tf.constant(CAPTIONS[:2]), "noise": tf.zeros([2, 5]),
                             "condition_noise": tf.zeros([2, 8])},
     r"noise: expected shape \[2, 8\] \(one row per caption\), got shape \[2 5\]"),
    ("generate_from_noise", {"captions": tf.constant(CAPTIONS[:2]), "noise": tf.zeros([2, 8]),
                             "condition_noise": tf.zeros([8])},
     r"condition_noise: expected shape \[2, 8\] .*got shape \[8\]"),
    ("generate_from_noise", {"captions": tf.constant(CAPTIONS[:2]),
                             "noise": tf.fill([2, 8], float("nan")),
                             "condition_noise": tf.zeros([2, 8])},
     r"noise: expected finite values .*got NaN or Inf"),
])
def test_exported_signatures_refuse_bad_inputs_naming_them(exported, signature, inputs,
                                                           message):
    """What a TF Serving client gets for a wrong shape or NaN noise: InvalidArgument naming
    the input, the expected and the given shape (not a black image or a deep error)."""
    loaded = load_exported(exported)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loaded.signatures[signature](**inputs)


def test_saving_does_not_log_the_renamed_captured_inputs(model, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="absl")
    export_saved_model(model, tmp_path)  # without the filter, one INFO record per signature
    assert "unsupported characters" not in caplog.text
