"""Scoring a trained run, and the evaluate / export / generate recipes on it."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mirrorgan_keras.data import load_split
from mirrorgan_keras.data.vocabulary import Vocabulary, VocabularyMismatchError
from mirrorgan_keras.evaluation import scoring
from mirrorgan_keras.models.text_to_image import TextToImage

ROOT = Path(__file__).resolve().parents[2]
ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": ""}


def test_test_set_loops_over_the_split_with_new_captions(run):
    run_dir, config, test = run
    model = TextToImage.from_run(run_dir).graph  # the vocabulary of the run's data set
    generated = scoring.generate_test_set(model, test, config, count=30, seed=1, batch_size=8,
                                          verbose=0)
    assert generated.images.shape == (30, 32, 32, 3) and generated.images.dtype == np.uint8
    assert generated.real_images.shape == (12, 32, 32, 3)
    np.testing.assert_array_equal(generated.test_index, np.arange(30) % 12)
    np.testing.assert_array_equal(generated.class_ids, test.class_ids[generated.test_index])
    for row, index in zip(generated.captions, generated.test_index, strict=True):
        words = [int(i) for i in row if i]
        assert any(_is_subsequence(words, caption) for caption in test.captions[index])
    passes_differ = np.any(generated.captions[:12] != generated.captions[12:24], axis=1)
    assert passes_differ.any()  # a second pass draws other captions of the same images
    again = scoring.generate_test_set(model, test, config, count=30, seed=1, batch_size=8,
                                      verbose=0)
    np.testing.assert_array_equal(again.images, generated.images)


def test_fewer_images_than_the_split_keep_only_the_real_images_they_were_drawn_from(run):
    run_dir, config, test = run
    model = TextToImage.from_run(run_dir).graph
    whole = scoring.generate_test_set(model, test, config, count=12, verbose=0)
    part = scoring.generate_test_set(model, test, config, count=5, verbose=0)
    assert part.real_images.shape == (5, 32, 32, 3)  # no unfilled rows for the FID statistics
    np.testing.assert_array_equal(part.real_images, whole.real_images[:5])


def _is_subsequence(words, caption):
    remaining = iter(caption)
    return all(word in remaining for word in words)


def test_evaluate_run_reports_every_metric_with_its_protocol(run, oracle_file, tmp_path):
    run_dir, config, test = run
    results = scoring.evaluate_run(run_dir, test, config, count=24, seed=0,
                                   inception_weights=None, splits=2, folds=2,
                                   oracle_path=oracle_file, work_dir=tmp_path, verbose=0)
    assert results["protocol"]["images"] == 24
    assert results["protocol"]["inception"]["weights"].startswith("random")
    assert 1.0 <= results["inception_score"] and results["fid"] >= 0
    for rank in (1, 2, 3):
        assert 0.0 <= results["r_precision"][f"top{rank}"] <= 1.0
    assert results["r_precision"]["top1"] <= results["r_precision"]["top3"]
    assert 0.0 <= results["attributes"]["generated"]["mean"] <= 1.0
    assert (tmp_path / "generated.npy").exists() and (tmp_path / "fid_reference.npz").exists()
    table = scoring.format_results(results)
    assert "Inception Score (2 splits" in table and "R-precision top-3" in table
    json.dumps(results)  # the recipe writes it as JSON


def test_part_of_the_training_split_is_drawn_from_every_class(run, oracle_file, tmp_path,
                                                              monkeypatch):
    run_dir, config, _ = run
    train = load_split(config.data, config.text, "train")
    drawn = []

    def generate_and_keep(*args, **kwargs):
        drawn.append(generate_test_set(*args, **kwargs))
        return drawn[-1]

    generate_test_set = scoring.generate_test_set
    monkeypatch.setattr(scoring, "generate_test_set", generate_and_keep)
    results = scoring.evaluate_run(run_dir, train, config, count=12, skip_inception=True,
                                   folds=2, oracle_path=oracle_file, work_dir=tmp_path,
                                   verbose=0)
    assert results["protocol"]["split"] == "train" and results["protocol"]["split_images"] == 27
    classes = np.unique(train.class_ids)
    assert len(classes) == 9 and np.all(np.diff(train.class_ids) >= 0)  # in class order
    assert set(drawn[0].class_ids) == set(classes)  # not the first four classes
    assert "from 27 train images' captions" in scoring.format_results(results)
    assert set(results["attributes"]["misplaced"]) == {"crown", "wing", "belly"}


def run_recipe(name: str, *flags: str) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "recipes" / name), *flags],
                            capture_output=True, text=True, timeout=600, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_export_generate_and_evaluate_recipes(run, oracle_file, tmp_path):
    run_dir = run[0]
    exported = json.loads(run_recipe("export.py", f"--run_dir={run_dir}",
                                      f"--export_dir={tmp_path / 'export'}"))
    assert exported["saved_model"].endswith("export/1")
    run_recipe("generate.py", f"--model={tmp_path / 'export'}", "--caption=a red bird",
               "--caption=a blue bird with a white belly", "--samples=2", "--attention",
               f"--output_dir={tmp_path / 'images'}")
    names = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert names == ["000_0.png", "000_0_attention.png", "000_1.png", "000_1_attention.png",
                     "001_0.png", "001_0_attention.png", "001_1.png", "001_1_attention.png",
                     "captions.txt"]
    refused = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / "generate.py"), f"--model={tmp_path / 'export'}",
         "--caption=a red bird", "--caption=zebra stripes", "--caption=?!",
         f"--output_dir={tmp_path / 'refused'}"], capture_output=True, text=True, timeout=600,
        env=ENV)
    assert refused.returncode == 1, refused.stderr[-3000:]
    assert "2 of 3 captions" in refused.stderr and "'zebra stripes'\n  '?!'" in refused.stderr
    assert not (tmp_path / "refused").exists()  # all captions checked before any file
    table = run_recipe("evaluate.py", f"--run_dir={run_dir}", "--num_images=12",
                       "--inception_weights=skip", "--folds=2", f"--oracle={oracle_file}",
                       f"--output={tmp_path / 'results.json'}", "--verbose=0")
    assert "R-precision top-1" in table and "Attribute accuracy" in table
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["protocol"]["inception"] == "skipped" and "fid" not in results


def test_summarize_seeds_gives_mean_and_std_of_shared_metrics():
    runs = [{"r_precision": {"top1": 0.2, "top3": 0.5}, "attributes": {"generated": {"mean": 0.6}}},
            {"r_precision": {"top1": 0.4, "top3": 0.7}, "attributes": {"generated": {"mean": 0.8}}},
            {"r_precision": {"top1": 0.6, "top3": 0.9}}]
    summary = scoring.summarize_seeds(runs)
    assert set(summary) == {"r_precision_top1", "r_precision_top3"}  # not every run has the rest
    np.testing.assert_allclose(summary["r_precision_top1"], (0.4, np.std([0.2, 0.4, 0.6])))
    np.testing.assert_allclose(scoring.summarize_seeds(runs[:2])["attribute_accuracy"],
                               (0.7, 0.1))


def test_a_run_is_not_scored_with_captions_of_another_vocabulary(run, tmp_path):
    run_dir, config, test = run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    tokens = test.vocabulary.tokens
    Vocabulary([tokens[2], tokens[1], *tokens[3:-1]]).save(str(copy / "vocabulary.txt"))
    with pytest.raises(VocabularyMismatchError, match="id 1 is"):
        scoring.evaluate_run(copy, test, config, count=4, skip_inception=True, folds=2,
                             skip_attributes=True, work_dir=tmp_path / "evaluation", verbose=0)
    assert not (tmp_path / "evaluation").exists()
