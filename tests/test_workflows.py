"""The three stages end to end on a tiny synthetic-birds set, and their error messages; the
vocabulary a run records, and a run used without its data set."""

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mirrorgan_keras.config import override
from mirrorgan_keras.data import DatasetLayoutError, load_split
from mirrorgan_keras.data.synthetic_birds import COLOURS, generate_synthetic_birds
from mirrorgan_keras.data.vocabulary import Vocabulary, VocabularyMismatchError
from mirrorgan_keras.evaluation import (
    MIN_IMAGE_DEPENDENCE,
    redescription_loss,
    swapped_word_preference,
)
from mirrorgan_keras.models import DAMSM, STREAM, GLAMGenerator
from mirrorgan_keras.models.text_to_image import TextToImage
from mirrorgan_keras.runtime import distribute, run_files
from mirrorgan_keras.runtime.run_files import RunConfigMismatchError, RunDirectoryLockedError
from mirrorgan_keras.training import stages
from tests.models.factories import tiny_config
from tests.test_run_files import lock_held_by_another_process

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("birds")
    generate_synthetic_birds(data_dir / "set", num_train=24, num_test=12, image_size=64,
                             num_workers=1)
    values = {"data.dataset": "synthetic_birds", "data.data_dir": str(data_dir / "set"),
              "text.words_num": 18, "train.batch_size": 4, "damsm.batch_size": 4,
              "stream.batch_size": 4}
    return override(tiny_config(), values)


def test_three_stages_write_their_files_and_resume(config, tmp_path, caplog):
    leftover, user_file = tmp_path / ".0badf00d-generator_ema.weights.h5", tmp_path / ".notes"
    leftover.touch()  # a kill during the final save of an earlier run
    user_file.touch()
    damsm = stages.pretrain_damsm(config, tmp_path, epochs=1, verbose=0)
    assert not leftover.exists() and user_file.exists()
    train = load_split(config.data, config.text, "train")
    assert Vocabulary.load(str(tmp_path / "vocabulary.txt")) == train.vocabulary
    stream = stages.pretrain_stream(config, tmp_path, epochs=1, verbose=0)
    gan = stages.train_mirrorgan(config, tmp_path, steps=2, checkpoint_every=1,
                                 sample_every=1, verbose=0)
    files = run_files.RunFiles(tmp_path)
    for path in (files.damsm, files.stream, files.generator, files.samples / "step_0000002.png"):
        assert path.exists(), path
    assert damsm["test"]["loss"] > 0 and stream["test"]["loss"] > 0
    dependence = stream["test"]["image_dependence"]  # one epoch: the captioner ignores images
    assert dependence == pytest.approx(
        stream["test"]["loss_mismatched_images"] - stream["test"]["loss"])
    assert dependence < MIN_IMAGE_DEPENDENCE and "image_dependence is" in caplog.text
    assert gan["steps"] == 2 and "g_loss" in gan["train"]
    recorded = json.loads(files.config.read_text())
    assert recorded["config"]["generator"]["ngf"] == 8 and recorded["vocab_size"] > 10
    stages.train_mirrorgan(config, tmp_path, steps=3, checkpoint_every=1, sample_every=1,
                           verbose=0)  # resumes at step 2
    assert sorted(p.name for p in files.checkpoints("mirrorgan").iterdir())[-1] == "ckpt-000000003"
    test = load_split(config.data, config.text, "test")
    scores = redescription_loss(config, tmp_path, test, count=8, batch_size=4)
    assert scores["images"] == 8
    assert np.isfinite(scores["stream_ce_real"]) and np.isfinite(scores["stream_ce_generated"])
    stream_model = STREAM.from_mirrorgan_config(config, test.vocabulary.size, files.stream)
    swaps = swapped_word_preference(stream_model, config, test, COLOURS, count=8, batch_size=4)
    assert swaps["images"] > 0 and 0.0 <= swaps["preference"] <= 1.0
    damsm_model = DAMSM.from_mirrorgan_config(config, test.vocabulary.size, files.damsm)
    damsm_swaps = swapped_word_preference(damsm_model, config, test, COLOURS, count=8,
                                          batch_size=4)  # at DAMSM's image size
    assert damsm_swaps["images"] > 0 and 0.0 <= damsm_swaps["preference"] <= 1.0


@pytest.fixture(scope="module")
def trained_run(config, tmp_path_factory):
    """A run whose GAN stage trained one step (random DAMSM weights, no STREAM): the files a
    training stage writes. Copy it before writing into it."""
    config = override(config, {"train.lambda_stream": 0.0})
    run = tmp_path_factory.mktemp("trained_run")
    vocab_size = load_split(config.data, config.text, "train").vocabulary.size
    run_files.save_weights(DAMSM.from_mirrorgan_config(config, vocab_size),
                           run_files.RunFiles(run).damsm)
    stages.train_mirrorgan(config, run, steps=1, verbose=0)
    return run


def moved_copy(run: Path, target: Path, *, keep_vocabulary: bool = True) -> Path:
    """``run`` copied to ``target`` (without checkpoints), its recorded data set now a
    directory that does not exist, as on another machine; ``keep_vocabulary=False`` makes it a
    run written before runs recorded their vocabulary."""
    shutil.copytree(run, target, ignore=shutil.ignore_patterns("checkpoints", ".lock"))
    recorded = json.loads((target / "config.json").read_text())
    recorded["config"]["data"]["data_dir"] = str(target.parent / "no_data_here")
    (target / "config.json").write_text(json.dumps(recorded))
    if not keep_vocabulary:
        (target / "vocabulary.txt").unlink()
    return target


def run_recipe(name: str, *flags: str) -> str:
    """Runs ``recipes/<name>`` in a fresh process; returns its stdout."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, str(RECIPES / name), *flags], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def first_test_caption(config) -> tuple[str, list[str]]:
    """A caption of the test split and the words the model keeps of it."""
    test = load_split(config.data, config.text, "test")
    words = test.vocabulary.decode(test.captions[0][0]).split()
    return " ".join(words), words[:config.text.words_num]


def test_a_run_copied_without_its_data_set_exports_and_generates(config, trained_run, tmp_path):
    run = moved_copy(trained_run, tmp_path / "moved")
    caption, words = first_test_caption(config)
    exported = json.loads(run_recipe("export.py", f"--run_dir={run}"))["saved_model"]
    run_recipe("generate.py", f"--run_dir={run}", f"--caption={caption}", "--seed=5",
               f"--output_dir={tmp_path / 'out'}")
    from_export = TextToImage.from_export(exported).generate(caption, seed=5,
                                                             return_attention=True)
    assert from_export.tokens == [words]  # the run's vocabulary is in the export
    drawn = np.asarray(Image.open(tmp_path / "out" / "000_0.png"))
    np.testing.assert_array_equal(drawn, from_export.images[0])


def test_a_run_without_vocabulary_reads_its_data_set_or_says_how_to_record_it(
        config, trained_run, tmp_path, caplog):
    caption, words = first_test_caption(config)
    old = moved_copy(trained_run, tmp_path / "old", keep_vocabulary=False)
    with pytest.raises(DatasetLayoutError, match=r"(?s)vocabulary\.txt not found \(the run was "
                                                 r"written before .*recipes/record_vocabulary"):
        TextToImage.from_run(old)
    model = TextToImage.from_run(old, data_dir=config.data.data_dir)
    assert "record it once: python recipes/record_vocabulary.py" in caplog.text
    expected = model.generate(caption, seed=2, return_attention=True)
    assert expected.tokens == [words]
    run_recipe("record_vocabulary.py", f"--run_dir={old}", f"--data_dir={config.data.data_dir}")
    recorded = TextToImage.from_run(old).generate(caption, seed=2)  # no data set now
    np.testing.assert_array_equal(recorded, expected.images)


def test_a_stage_refuses_data_whose_vocabulary_is_not_the_runs(config, tmp_path):
    tokens = load_split(config.data, config.text, "train").vocabulary.tokens
    Vocabulary([tokens[2], tokens[1], *tokens[3:-1]]).save(str(tmp_path / "vocabulary.txt"))
    with pytest.raises(VocabularyMismatchError, match=(
            rf"vocabulary\.txt is not the vocabulary of the data set in {config.data.data_dir}: "
            rf"id 1 is '{tokens[2]}' in the run, '{tokens[1]}' in the data set "
            rf"\({len(tokens)} and {len(tokens)} ids\)")):
        stages.pretrain_damsm(config, tmp_path, epochs=1, verbose=0)
    assert not (tmp_path / "config.json").exists()


def test_missing_data_set_says_where_to_get_it(config, tmp_path):
    missing = dataclasses.replace(config, data=dataclasses.replace(
        config.data, dataset="cub", data_dir=str(tmp_path / "nowhere")))
    with pytest.raises(DatasetLayoutError, match=r"CUB-200-2011.*\(docs/data\.md, section "
                                                  r"How to obtain them\)"):
        stages.pretrain_damsm(missing, tmp_path / "run", epochs=1, verbose=0)
    assert not (tmp_path / "run").exists()


def copy_of_the_data_set(config, tmp_path):
    """``config`` reading a copy of its data set in ``tmp_path`` (to break), without the
    captions cache."""
    data_dir = shutil.copytree(config.data.data_dir, tmp_path / "data")
    (data_dir / "captions.pickle").unlink(missing_ok=True)
    return override(config, {"data.data_dir": str(data_dir)})


def test_a_bad_caption_file_is_reported_without_the_missing_data_set_advice(config, tmp_path):
    config = copy_of_the_data_set(config, tmp_path)
    caption_file = next((tmp_path / "data" / "text").rglob("*.txt"))
    caption_file.write_bytes(b"\x00\x01" * 100)
    with pytest.raises(DatasetLayoutError, match=str(caption_file)) as error:
        stages.read_splits(config)
    assert "not found or incomplete" not in str(error.value)


def test_data_skip_bad_images_reaches_the_stages(config, tmp_path):
    config = copy_of_the_data_set(config, tmp_path)
    image = next((tmp_path / "data" / "CUB_200_2011" / "images").rglob("*.jpg"))
    image.write_bytes(b"not an image")
    with pytest.raises(DatasetLayoutError, match="training recipes: --skip_bad_images"):
        stages.read_splits(config)
    train, test = stages.read_splits(override(config, {"data.skip_bad_images": True}))
    assert [str(image)] in ([*train.report.skipped_images], [*test.report.skipped_images])


@pytest.mark.parametrize("in_the_way", ["run", "run/checkpoints"])
def test_a_run_directory_that_cannot_be_written_is_refused_before_training(config, tmp_path,
                                                                          in_the_way):
    (tmp_path / in_the_way).parent.mkdir(exist_ok=True)
    (tmp_path / in_the_way).write_text("a file in the way")
    with pytest.raises(run_files.RunDirectoryNotWritableError,
                       match=f"{tmp_path / in_the_way} is a file, not a directory"):
        stages.pretrain_damsm(config, tmp_path / "run", epochs=1, verbose=0)


def test_a_read_only_run_directory_is_refused_before_training(config, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: str(path) != str(tmp_path))
    with pytest.raises(run_files.RunDirectoryNotWritableError,
                       match=f"{tmp_path} is not writable by this user"):
        stages.pretrain_damsm(config, tmp_path / "run", epochs=1, verbose=0)


def test_gan_without_pretrained_encoders_names_the_recipe_and_writes_nothing(config, tmp_path):
    with pytest.raises(FileNotFoundError, match="pretrain_damsm.py"):
        stages.train_mirrorgan(config, tmp_path / "run", steps=1, verbose=0)
    assert not (tmp_path / "run").exists()



def test_a_stage_refuses_a_run_directory_that_another_process_trains_in(config, tmp_path):
    with lock_held_by_another_process(tmp_path) as holder, pytest.raises(
            RunDirectoryLockedError, match=f"pid {holder.pid} on host"):
        stages.pretrain_damsm(config, tmp_path, epochs=1, verbose=0)
    assert [p.name for p in tmp_path.iterdir()] == [".lock"]  # no config.json


def test_one_seed_gives_one_generator_another_seed_another(config, tmp_path):
    """Two fresh runs with one seed are bit-identical: the seed also seeds the weights."""
    config = override(config, {"train.lambda_stream": 0.0, "train.lambda_damsm": 0.0,
                               "generator.stages": 1})  # a quick step to trace
    vocab_size = load_split(config.data, config.text, "train").vocabulary.size
    damsm_weights = tmp_path / "damsm.weights.h5"
    run_files.save_weights(DAMSM.from_mirrorgan_config(config, vocab_size), damsm_weights)

    def generator_after_a_step(run: str, seed: int) -> list:
        stages.train_mirrorgan(config, tmp_path / run, steps=1, seed=seed, verbose=0,
                               damsm_weights=damsm_weights)
        path = run_files.RunFiles(tmp_path / run).generator
        return GLAMGenerator.from_mirrorgan_config(config, path).get_weights()

    first, again, other = (generator_after_a_step(run, seed)
                           for run, seed in (("first", 3), ("again", 3), ("other", 4)))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_a_stage_refuses_a_config_that_does_not_fit_the_runs_weights(config, tmp_path):
    converted = override(config, {"text.embedding_dim": 32, "generator.ngf": 16})
    vocab_size = load_split(config.data, config.text, "train").vocabulary.size
    files = run_files.RunFiles(tmp_path)
    run_files.write_run_config(files, converted, vocab_size)
    files.generator.touch()
    with pytest.raises(RunConfigMismatchError, match=r"text\.embedding_dim \(run: 32, now: 16\)"
                                                     r", generator\.ngf \(run: 16, now: 8\)\. "
                                                     r"Give the run's values: --set "
                                                     r"text\.embedding_dim=32 --set "
                                                     r"generator\.ngf=16"):
        stages.pretrain_stream(config, tmp_path, epochs=1, verbose=0)
    assert run_files.load_run_config(tmp_path) == converted


def test_a_hand_edited_config_json_says_what_to_restore(config, trained_run, tmp_path):
    """generator.ngf edited in a finished run's config.json: resuming with the run's values
    or with the edited ones, and loading the run, all name config.json and the values the
    checkpoint and weights were trained with (no --set advice that goes in a circle)."""
    run = tmp_path / "edited"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns(".lock"))
    recorded = json.loads((run / "config.json").read_text())
    ngf = recorded["config"]["generator"]["ngf"]
    recorded["config"]["generator"]["ngf"] = 2 * ngf
    (run / "config.json").write_text(json.dumps(recorded))
    config = override(config, {"train.lambda_stream": 0.0})
    message = re.escape(
        f"disagrees with the run's checkpoints and weights files (damsm.weights.h5, "
        f"generator_ema.weights.h5): generator.ngf (config.json: {2 * ngf}, checkpoint "
        f"checkpoints/mirrorgan/ckpt-000000001: {ngf}). config.json was changed after they were "
        f"written; restore it to the values the weights were trained with: generator.ngf = {ngf}")
    for resumed in (config, override(config, {"generator.ngf": 2 * ngf})):
        with pytest.raises(RunConfigMismatchError, match=message):
            stages.train_mirrorgan(resumed, run, steps=2, verbose=0)
    with pytest.raises(RunConfigMismatchError, match=message):
        TextToImage.from_run(run)


@pytest.mark.parametrize("freeze", [True, False])
def test_word_pretraining_leaves_the_cnn_as_the_config_says(config, freeze):
    config = override(config, {"stream.freeze_backbone": freeze,
                               "stream.word_pretraining_epochs": 1})
    train = load_split(config.data, config.text, "train")
    stream = STREAM.from_mirrorgan_config(config, train.vocabulary.size)
    before = [np.array(w) for w in stream.encoder.backbone.weights]
    stages._pretrain_backbone_on_words(stream, config, train, distribute.make_strategy(),
                                       seed=0, verbose=0)
    after = stream.encoder.backbone.weights
    assert any(not np.allclose(b, a) for b, a in zip(before, after, strict=True))  # it trained
    assert stream.encoder.backbone.trainable is (not freeze)
