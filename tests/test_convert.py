"""Conversion of the reference PyTorch checkpoints: each converted module against an
independent PyTorch forward pass (tests/torch_reference.py), key coverage, bad files, and the
converted run end to end (convert → export → generate in a fresh process)."""

import os
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mirrorgan_keras.config import GeneratorConfig, MirrorGANConfig, TextConfig  # noqa: E402
from mirrorgan_keras.convert import (  # noqa: E402
    CheckpointConversionError,
    convert_discriminator,
    convert_generator,
    convert_image_encoder,
    convert_text_encoder,
    load_state_dict,
)
from mirrorgan_keras.layers import (  # noqa: E402
    RegionImageEncoder,
    SemanticTextEncoder,
    StageDiscriminator,
)
from mirrorgan_keras.models import GLAMGenerator  # noqa: E402
from tests import torch_reference as reference  # noqa: E402

NEF = 10  # text embedding width of the small checkpoints


def nhwc(tensor):
    """A PyTorch NCHW tensor as a NumPy NHWC array."""
    return tensor.detach().numpy().transpose(0, 2, 3, 1)


def assert_close(got, want, tolerance=1e-4):
    """max |got − want| ≤ tolerance · max |want|."""
    got, want = np.asarray(got), np.asarray(want.detach().numpy() if torch.is_tensor(want)
                                            else want)
    assert got.shape == want.shape
    scale = np.abs(want).max()
    assert scale > 0
    assert np.abs(got - want).max() <= tolerance * scale, np.abs(got - want).max() / scale


def saved(state, path, legacy=False):
    """``state`` written with torch.save (legacy pickle format with ``legacy``); the path."""
    torch.save(dict(state), path, _use_new_zipfile_serialization=not legacy)
    return path


# ------------------------------------------------------------------------------ STEM

def test_text_encoder_matches_a_packed_bidirectional_lstm(tmp_path):
    torch.manual_seed(0)
    module = reference.TextEncoder(words=20, width=12, hidden=8)
    path = saved(module.state_dict(), tmp_path / "text_encoder.pth", legacy=True)
    encoder = SemanticTextEncoder(21, 12, 16, dropout=0.5)
    captions = np.array([[3, 5, 7, 9, 11, 2], [4, 6, 1, 0, 0, 0], [19, 0, 0, 0, 0, 0]])
    encoder(captions)
    convert_text_encoder(load_state_dict(path), encoder, path)
    with torch.no_grad():
        words, sentence = module(torch.tensor(captions), torch.tensor((captions != 0).sum(1)))
    got_words, got_sentence = encoder(captions, training=False)
    assert_close(got_words, words.transpose(1, 2))
    assert_close(got_sentence, sentence)
    np.testing.assert_array_equal(np.asarray(encoder.embedding.embeddings)[-1], 0.0)  # <unk>


# ------------------------------------------------------------------------------ G_NET

def reference_inputs(batch, words, padded, seed=0):
    """z [B, 5], sentence [B, NEF], words [B, NEF, T], mask [B, T] (last ``padded`` words are
    padding), CA eps [B, 6]."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.zeros(batch, words, dtype=torch.bool)
    mask[:, words - padded:] = True
    return {"z": torch.randn(batch, 5, generator=generator),
            "sentence": torch.randn(batch, NEF, generator=generator),
            "words": torch.randn(batch, NEF, words, generator=generator), "mask": mask,
            "eps": torch.randn(batch, 6, generator=generator)}


def run_reference_generator(state, inputs, sentence_attention):
    with torch.no_grad():
        return reference.generator(
            state, inputs["z"], inputs["sentence"], inputs["words"], inputs["mask"],
            inputs["eps"], ngf=4, stages=3, res_blocks=2, sentence_attn=sentence_attention,
            condition_dim=6,
        )


@pytest.fixture(scope="module", params=[False, True], ids=["attngan", "mirrorgan"])
def converted_generator(request, tmp_path_factory):
    """(reference state, reference outputs at batch 1 with padding, inputs, converted G)."""
    state = reference.RandomState(seed=1)
    inputs = reference_inputs(batch=1, words=7, padded=2)
    outputs = run_reference_generator(state, inputs, request.param)
    path = saved(state, tmp_path_factory.mktemp("g") / "netG.pth")
    generator = GLAMGenerator.from_mirrorgan_config(MirrorGANConfig(
        text=TextConfig(words_num=7, embedding_dim=NEF),
        generator=GeneratorConfig(ngf=4, z_dim=5, condition_dim=6, res_blocks=2, stages=3,
                                  sentence_attention=request.param)))
    convert_generator(load_state_dict(path), generator, path)
    return state, outputs, inputs, generator, request.param


def keras_inputs(inputs):
    return (inputs["sentence"].numpy(), inputs["words"].numpy().transpose(0, 2, 1),
            ~inputs["mask"].numpy(), inputs["z"].numpy(), inputs["eps"].numpy())


def test_ca_net_matches(converted_generator):
    _, outputs, inputs, generator, _ = converted_generator
    c, mu, logvar = generator.conditioning(inputs["sentence"].numpy(),
                                           noise=inputs["eps"].numpy())
    for got, name in ((c, "c"), (mu, "mu"), (logvar, "logvar")):
        assert_close(got, outputs[name])


def test_initial_stage_matches(converted_generator):
    _, outputs, inputs, generator, _ = converted_generator
    hidden = generator.initial_stage(outputs["c"].numpy(), inputs["z"].numpy(), training=False)
    assert_close(hidden, nhwc(outputs["h"][0]))


def test_refinement_stages_match_with_their_attention(converted_generator):
    _, outputs, inputs, generator, _ = converted_generator
    _, words, word_mask, _, _ = keras_inputs(inputs)
    for index, stage in enumerate(generator.refinement_stages):
        hidden, attention = stage(nhwc(outputs["h"][index]), words, outputs["c"].numpy(),
                                  word_mask=word_mask, training=False)
        assert_close(hidden, nhwc(outputs["h"][index + 1]))
        assert_close(attention, outputs["attention"][index])
    np.testing.assert_array_equal(np.asarray(attention)[:, -2:], 0.0)  # padded words


@pytest.mark.parametrize("batch, padded", [(1, 2), (2, 0)])
def test_whole_generator_matches(converted_generator, batch, padded):
    state, _, _, generator, sentence_attention = converted_generator
    inputs = reference_inputs(batch, words=7, padded=padded, seed=batch)
    outputs = run_reference_generator(state, inputs, sentence_attention)
    sentence, words, word_mask, z, condition_noise = keras_inputs(inputs)
    got = generator(sentence, words, word_mask, noise=z, condition_noise=condition_noise,
                    training=False)
    for image, want in zip(got["images"], outputs["images"], strict=True):
        assert_close(image, nhwc(want))
    for maps, want in zip(got["attention"], outputs["attention"], strict=True):
        assert_close(maps, want)


# ------------------------------------------------------------------------------ D_NET

def reference_discriminator(size, ndf=4, seed=2):
    """(state, images [2, 3, S, S], sentence [2, NEF], reference outputs)."""
    state = reference.RandomState(seed)
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(2, 3, size, size, generator=generator) * 2 - 1
    sentence = torch.randn(2, NEF, generator=generator)
    with torch.no_grad():
        outputs = reference.discriminator(state, size, images, sentence, ndf)
    return state, images, sentence, outputs


def built_discriminator(size, ndf=4):
    discriminator = StageDiscriminator(ndf, size)
    discriminator(np.zeros((1, size, size, 3), "float32"), np.zeros((1, NEF), "float32"))
    return discriminator


@pytest.mark.parametrize("size", [64, 128, 256])
def test_discriminator_matches(tmp_path, size):
    state, images, sentence, (features, unconditional, conditional) = \
        reference_discriminator(size)
    path = saved(state, tmp_path / "netD.pth")
    discriminator = built_discriminator(size)
    convert_discriminator(load_state_dict(path), discriminator, path)
    got_features = discriminator.trunk(nhwc(images), training=False)
    assert_close(got_features, nhwc(features))
    got_unconditional, got_conditional = discriminator(nhwc(images), sentence.numpy(),
                                                       training=False)
    assert_close(np.asarray(got_unconditional)[:, 0], unconditional)
    assert_close(np.asarray(got_conditional)[:, 0], conditional)


# ------------------------------------------------------------------------ CNN_ENCODER

def test_image_encoder_matches_torchvision_inception(tmp_path):
    state = reference.RandomState(seed=3)
    images = torch.rand(2, 3, 75, 75, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():
        trunk = reference.inception_trunk(state, images)
        regions, code = reference.cnn_encoder(state, images, nef=16)
    path = saved(state, tmp_path / "image_encoder.pth", legacy=True)
    encoder = RegionImageEncoder(16, backbone="inception_v3_torch", weights=None, image_size=75)
    encoder(nhwc(images))
    convert_image_encoder(load_state_dict(path), encoder, path)
    for got, want in zip(encoder.backbone(nhwc(images), training=False), trunk, strict=True):
        assert_close(got, nhwc(want))
    got_regions, got_code = encoder(nhwc(images), training=False)
    assert_close(got_regions, nhwc(regions))
    assert_close(got_code, code)


# ------------------------------------------------------------------ key coverage, bad files

@pytest.fixture(scope="module")
def d64_state():
    return reference_discriminator(64, seed=5)[0]


def conversion_error(state, tmp_path):
    """The CheckpointConversionError of converting ``state`` into a D_NET64 (ndf 4)."""
    path = saved(state, tmp_path / "netD0.pth")
    with pytest.raises(CheckpointConversionError) as error:
        convert_discriminator(load_state_dict(path), built_discriminator(64), path)
    return str(error.value)


def test_renamed_key_is_named_with_the_expected_shape(d64_state, tmp_path):
    state = dict(d64_state)
    state["img_code_s16.2.weights"] = state.pop("img_code_s16.2.weight")
    message = conversion_error(state, tmp_path)
    assert "D_NET64 (ndf 4)" in message
    assert "unknown key 'img_code_s16.2.weights' (shape (8, 4, 4, 4))" in message
    assert "missing key 'img_code_s16.2.weight': D_NET64 (ndf 4) expects shape (8, 4, 4, 4)" \
        in message


def test_missing_key_is_named(d64_state, tmp_path):
    state = dict(d64_state)
    del state["COND_DNET.jointConv.1.running_var"]
    assert conversion_error(state, tmp_path).endswith(
        "missing key 'COND_DNET.jointConv.1.running_var': D_NET64 (ndf 4) expects shape (32,)")


def test_extra_key_is_named(d64_state, tmp_path):
    state = {**d64_state, "UNCOND_DNET.jointConv.0.weight": torch.zeros(32, 42, 3, 3)}
    assert conversion_error(state, tmp_path).endswith(
        "unknown key 'UNCOND_DNET.jointConv.0.weight' (shape (32, 42, 3, 3)): D_NET64 (ndf 4) "
        "has no such tensor")


def test_shape_mismatch_is_named(d64_state, tmp_path):
    state = {**d64_state, "UNCOND_DNET.outlogits.0.weight": torch.zeros(1, 32, 3, 3)}
    assert conversion_error(state, tmp_path).endswith(
        "key 'UNCOND_DNET.outlogits.0.weight' has shape (1, 32, 3, 3): D_NET64 (ndf 4) expects "
        "shape (1, 32, 4, 4)")


def test_batch_norm_counters_are_optional(d64_state, tmp_path):
    """A file without ``num_batches_tracked`` converts to the very weights of one with them,
    and those are the state's (a batch norm's running variance among them)."""
    converted = []
    for name, state in (("new.pth", d64_state), ("old.pth", d64_state.without_counters())):
        path = saved(state, tmp_path / name, legacy=True)
        discriminator = built_discriminator(64)
        convert_discriminator(load_state_dict(path), discriminator, path)
        converted.append([np.asarray(w) for w in discriminator.weights])
    for with_counters, without in zip(*converted, strict=True):
        np.testing.assert_array_equal(without, with_counters)
    running_var = d64_state["COND_DNET.jointConv.1.running_var"].numpy()
    assert any(np.array_equal(w, running_var) for w in converted[1])


def test_legacy_zip_and_data_parallel_files_read_the_same(d64_state, tmp_path):
    zipped = load_state_dict(saved(d64_state, tmp_path / "zip.pth"))
    legacy = load_state_dict(saved(d64_state, tmp_path / "legacy.pth", legacy=True))
    wrapped = load_state_dict(saved({f"module.{k}": v for k, v in d64_state.items()},
                                    tmp_path / "parallel.pth", legacy=True))
    assert list(zipped) == list(legacy) == list(wrapped) == list(d64_state)
    for key, value in d64_state.items():
        for state in (legacy, wrapped):
            np.testing.assert_array_equal(state[key], zipped[key])
        np.testing.assert_array_equal(zipped[key], value.numpy())


def generator_conversion_error(state, tmp_path):
    """The CheckpointConversionError of converting ``state`` as a G_NET sized from its keys
    (what convert_torch.py --generator does)."""
    from mirrorgan_keras.convert.gan import generator_sizes

    path = saved(state, tmp_path / "netG.pth")
    loaded = load_state_dict(path)
    with pytest.raises(CheckpointConversionError) as error:
        sizes, width = generator_sizes(loaded, path)
        generator = GLAMGenerator.from_mirrorgan_config(MirrorGANConfig(
            text=TextConfig(words_num=7, embedding_dim=width),
            generator=GeneratorConfig(**sizes)))
        convert_generator(loaded, generator, path)
    return str(error.value)


def test_mirrorgan_generator_with_a_renamed_sentence_attention_key(tmp_path):
    state = reference.RandomState(seed=1)
    run_reference_generator(state, reference_inputs(1, 7, 0), sentence_attention=True)
    state = dict(state)
    state["h_net2.att.linear.weights"] = state.pop("h_net2.att.linear.weight")
    problems = generator_conversion_error(state, tmp_path).splitlines()[1:]
    assert len(problems) == 2, problems  # the renamed key, not 8 "unknown" MirrorGAN keys
    assert "unknown key 'h_net2.att.linear.weights' (shape (4, 6))" in problems[0]
    assert problems[1].strip().startswith("missing key 'h_net2.att.linear.weight': G_NET "
                                          "(ngf 4, 3 stages, 2 residual blocks, word + "
                                          "sentence attention) expects shape (4, 6)")


def test_discriminator_given_as_generator_is_named(d64_state, tmp_path):
    assert generator_conversion_error(d64_state, tmp_path).endswith(
        "does not match G_NET: it looks like a D_NET64 discriminator (img_code_s16 keys), not "
        "a generator: give it as a discriminator (--discriminators)")


@pytest.mark.parametrize("content", ["text", "list", "module", "empty"])
def test_a_file_that_is_not_a_state_dict_is_refused(tmp_path, content):
    path = tmp_path / "model.pth"
    if content == "text":
        path.write_text("not a checkpoint\n")
    elif content == "list":
        torch.save([torch.zeros(2)], path)
    elif content == "module":
        torch.save(torch.nn.Linear(2, 2), path)  # a whole pickled module: code, not tensors
    else:
        path.write_bytes(pickle.dumps({}, protocol=2))
    with pytest.raises(CheckpointConversionError, match="model.pth (is not|holds)"):
        load_state_dict(path)


# ------------------------------------------------------------------- converted run, end to end

WORDS = ("a small bird with red wings and black crown white belly short yellow beak blue "
         "tail this has long grey brown breast").split()
CAPTIONS = [
    "A small bird with red wings and a black crown, a white belly and a short yellow beak",
    "this bird has a long grey tail, brown wings, a blue crown and a white breast with red "
    "wings and a small beak",
]  # 18 or more known words each: full-length captions, no padding


@pytest.fixture(scope="module")
def reference_files(tmp_path_factory):
    """A captions.pickle and random reference checkpoints in the legacy format: AttnGAN's
    DAMSM encoders, a 3-stage AttnGAN G_NET and D_NET64/128/256. Returns (directory,
    vocabulary, PyTorch text encoder, G_NET state)."""
    from mirrorgan_keras.data.vocabulary import (
        ReferenceCaptions,
        Vocabulary,
        write_captions_pickle,
    )

    root = tmp_path_factory.mktemp("reference")
    vocabulary = Vocabulary(WORDS)
    write_captions_pickle(str(root / "captions.pickle"),
                          ReferenceCaptions(vocabulary, [[1, 2, 3]], [[4, 5, 6]]))
    torch.manual_seed(4)
    text_encoder = reference.TextEncoder(vocabulary.size - 1, width=12, hidden=NEF // 2)
    saved(text_encoder.state_dict(), root / "text_encoder200.pth", legacy=True)
    image_state = reference.RandomState(seed=6)
    with torch.no_grad():
        reference.cnn_encoder(image_state, torch.zeros(1, 3, 75, 75), NEF)
    saved(image_state, root / "image_encoder200.pth", legacy=True)
    generator_state = reference.RandomState(seed=7)
    run_reference_generator(generator_state, reference_inputs(1, 7, 0), False)
    saved(generator_state, root / "bird_AttnGAN2.pth", legacy=True)
    for index, size in enumerate((64, 128, 256)):
        saved(reference_discriminator(size, seed=8 + index)[0], root / f"netD{index}.pth",
              legacy=True)
    return root, vocabulary, text_encoder, generator_state


def run_python(arguments, cwd):
    """Runs ``python <arguments>`` in a fresh process in ``cwd``; returns its stdout."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, *map(str, arguments)], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_encoders_given_apart_stop_with_the_reason_not_the_help(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "convert_torch.py"
    result = subprocess.run(
        [sys.executable, str(recipe), "--captions=captions.pickle", "--run_dir=run",
         "--text_encoder=text_encoder200.pth"], cwd=tmp_path, capture_output=True, text=True,
        timeout=600, env={**{name: value for name, value in os.environ.items()
                             if name != "TF_CPP_MIN_LOG_LEVEL"}, "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 1  # and no help, no "failed call to cuInit" (quiet start)
    assert result.stderr == ("convert_torch.py: give the DAMSM text and image encoders "
                             "together: damsm.weights.h5 holds both\n")


def reference_images(text_encoder, generator_state, vocabulary, noise, condition_noise):
    """Raw captions → uint8 images [B, 256, 256, 3] with the PyTorch modules."""
    from mirrorgan_keras.data.text import tokenize

    ids = torch.tensor([vocabulary.lookup(tokenize(caption))[:18] for caption in CAPTIONS])
    with torch.no_grad():
        words, sentence = text_encoder(ids, torch.full((len(ids),), 18))
        outputs = reference.generator(
            generator_state, torch.tensor(noise), sentence, words,
            torch.zeros(ids.shape, dtype=torch.bool), torch.tensor(condition_noise), ngf=4,
            stages=3, res_blocks=2, sentence_attn=False, condition_dim=6)
    images = nhwc(outputs["images"][-1])
    return np.clip((images + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


@pytest.mark.slow
def test_convert_export_generate_from_raw_text(reference_files, tmp_path):
    import json
    from pathlib import Path

    root, vocabulary, text_encoder, generator_state = reference_files
    recipes = Path(__file__).resolve().parents[1] / "recipes"
    run = tmp_path / "runs" / "attngan_birds"
    run_python([recipes / "convert_torch.py", "--preset=cub",
                f"--captions={root / 'captions.pickle'}",
                f"--text_encoder={root / 'text_encoder200.pth'}",
                f"--image_encoder={root / 'image_encoder200.pth'}",
                f"--generator={root / 'bird_AttnGAN2.pth'}",
                "--discriminators=" + ",".join(str(root / f"netD{i}.pth") for i in range(3)),
                f"--run_dir={run}"], cwd=tmp_path)
    recorded = json.loads((run / "config.json").read_text())
    config = recorded["config"]
    assert recorded["vocab_size"] == vocabulary.size and config["name"] == "cub"
    assert config["damsm"]["backbone"] == "inception_v3_torch"
    assert config["damsm"]["weights"] is None
    assert config["generator"] == {**config["generator"], "ngf": 4, "stages": 3, "res_blocks": 2,
                                   "sentence_attention": False, "z_dim": 5, "condition_dim": 6}
    assert config["text"]["embedding_dim"] == NEF and config["discriminator"]["ndf"] == 4
    assert (run / "initial_gan" / "ckpt-000000000" / "state.npz").exists()

    run_python([recipes / "export.py", f"--run_dir={run}"], cwd=tmp_path)  # no data set here
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((2, 5)).astype(np.float32)
    condition_noise = rng.standard_normal((2, 6)).astype(np.float32)
    np.savez(tmp_path / "noise.npz", noise=noise, condition_noise=condition_noise)
    run_python(["-c", f"""
import numpy as np, tensorflow as tf
from mirrorgan_keras.models.export import load_exported
inputs = np.load({str(tmp_path / 'noise.npz')!r})
outputs = load_exported({str(run / 'export')!r}).signatures["generate_from_noise"](
    captions=tf.constant({CAPTIONS!r}), noise=tf.constant(inputs["noise"]),
    condition_noise=tf.constant(inputs["condition_noise"]))
np.save({str(tmp_path / 'images.npy')!r}, outputs["images"].numpy())
"""], cwd=tmp_path)
    exported = np.load(tmp_path / "images.npy")
    expected = reference_images(text_encoder, generator_state, vocabulary, noise,
                                condition_noise)
    assert exported.shape == (2, 256, 256, 3)
    assert np.abs(exported.astype(int) - expected.astype(int)).max() <= 1  # rounding

    run_python([recipes / "generate.py", f"--model={run / 'export'}",
                f"--caption={CAPTIONS[0]}", "--attention", f"--output_dir={tmp_path / 'out'}"],
               cwd=tmp_path)
    assert (tmp_path / "out" / "000_0.png").exists()
    assert (tmp_path / "out" / "000_0_attention.png").exists()


def source_and_state(path):
    return str(path), load_state_dict(path)


def test_vocabulary_of_another_data_set_is_refused(reference_files):
    from mirrorgan_keras.convert import converted_config
    from mirrorgan_keras.data.vocabulary import Vocabulary

    root, _, _, _ = reference_files
    states = {name: source_and_state(root / f"{name}200.pth")
              for name in ("text_encoder", "image_encoder")}
    with pytest.raises(CheckpointConversionError, match=r"key 'encoder.weight' has 23 rows, "
                       r"captions.pickle has 3 word ids \(expected shape \(3, 12\)\)"):
        converted_config(states, Vocabulary(["a", "b"]), "cub")


def test_discriminators_must_follow_the_generator_stages(reference_files):
    from mirrorgan_keras.convert import converted_config

    root, vocabulary, _, _ = reference_files
    states = {"generator": source_and_state(root / "bird_AttnGAN2.pth"),
              "discriminators": [source_and_state(root / f"netD{i}.pth") for i in (0, 2)]}
    with pytest.raises(CheckpointConversionError, match=r"expected D_NET\[64, 128, 256\]"):
        converted_config(states, vocabulary, "cub")


@pytest.mark.slow
def test_gan_training_starts_from_the_converted_networks(reference_files, tmp_path):
    from mirrorgan_keras.config import get_preset, override
    from mirrorgan_keras.convert import ReferenceCheckpoints, convert_reference_run
    from mirrorgan_keras.data import load_split
    from mirrorgan_keras.data.synthetic_birds import generate_synthetic_birds
    from mirrorgan_keras.runtime import run_files
    from mirrorgan_keras.training import stages

    root, _, _, _ = reference_files
    data_dir = tmp_path / "birds"
    generate_synthetic_birds(str(data_dir), num_train=12, num_test=4, image_size=64,
                             num_workers=1)
    data = override(get_preset("cub"), {"data.dataset": "synthetic_birds",
                                        "data.data_dir": str(data_dir)})
    vocabulary = load_split(data.data, data.text, "train").vocabulary  # writes captions.pickle
    torch.manual_seed(5)
    text_encoder = reference.TextEncoder(vocabulary.size - 1, width=12, hidden=NEF // 2)
    saved(text_encoder.state_dict(), tmp_path / "text_encoder.pth")
    run = tmp_path / "run"
    convert_reference_run(ReferenceCheckpoints(
        captions=data_dir / "captions.pickle", text_encoder=tmp_path / "text_encoder.pth",
        image_encoder=root / "image_encoder200.pth", generator=root / "bird_AttnGAN2.pth",
        discriminators=tuple(root / f"netD{i}.pth" for i in range(3))), run)
    config = override(run_files.load_run_config(run), {
        "data.dataset": "synthetic_birds", "data.data_dir": str(data_dir),
        "train.lambda_stream": 0.0, "train.batch_size": 2})
    stages.train_mirrorgan(config, run, steps=1, checkpoint_every=1, sample_every=1,
                           verbose=0)
    start = checkpoint_arrays(run / "initial_gan" / "ckpt-000000000")
    trained = checkpoint_arrays(run / "checkpoints" / "mirrorgan" / "ckpt-000000001")
    assert {name.split("/")[0] for name in start} == {
        "generator", "discriminator0", "discriminator1", "discriminator2"}
    for name, before in start.items():  # one Adam step later (batch-norm statistics move more)
        if "moving" not in name:
            assert np.abs(trained[name] - before).max() < 1e-2, name
    assert any(np.abs(trained[name] - before).max() > 0 for name, before in start.items())


def checkpoint_arrays(path):
    """{variable path: array} of a TrainingCheckpoint directory."""
    import json

    names = json.loads((path / "manifest.json").read_text())["names"]
    with np.load(path / "state.npz") as state:
        return {name: state[f"v{i:05d}"] for i, name in enumerate(names)}
