"""Scores a trained run with the evaluation protocol of docs/design.md §9.

1. :func:`generate_test_set`: N images from test captions with the EMA generator: pass p over
   the test split gives every test image one caption drawn with seed (seed, p), and fresh
   noise; N above the split's size loops over it (30,000 images is the field's convention).
   :func:`evaluate_run` takes any split: scored on the training captions (N below the split's
   size: drawn round-robin over its classes), the same metrics tell a generator that has not
   learnt its training captions from one that does not generalise to the test ones.
2. The metrics on that set: Inception Score and FID (:func:`inception_scores`), R-precision
   with the run's DAMSM encoders (:func:`r_precision_scores`), and for the synthetic birds the
   attribute accuracy judged by an independent oracle (:func:`attribute_scores`).

:func:`evaluate_run` runs all of it and returns one dict (the protocol and every number);
:func:`format_results` prints it as a table.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from mirrorgan_keras.config import MirrorGANConfig
from mirrorgan_keras.convert.provenance import file_record
from mirrorgan_keras.data import make_dataset
from mirrorgan_keras.data.pipeline import to_uint8
from mirrorgan_keras.data.records import DatasetSplit
from mirrorgan_keras.data.vocabulary import check_run_vocabulary
from mirrorgan_keras.evaluation._batches import float_batches
from mirrorgan_keras.evaluation.attributes import (
    attribute_report,
    draw_labelled_birds,
    format_attribute_report,
    load_oracle,
    mask_unmentioned,
    read_attribute_labels,
    save_oracle,
    train_oracle,
)
from mirrorgan_keras.evaluation.fid import inception_metrics, reference_statistics
from mirrorgan_keras.evaluation.inception import InceptionScorer
from mirrorgan_keras.evaluation.protocols import FieldNetworks
from mirrorgan_keras.evaluation.r_precision import evaluate_r_precision
from mirrorgan_keras.models import DAMSM, GLAMGenerator
from mirrorgan_keras.models.text_to_image import TextToImageModule
from mirrorgan_keras.runtime import run_files

ORACLE_TRAINING_IMAGES = 4000
ORACLE_FILE = "attribute_oracle.keras"


@dataclasses.dataclass
class GeneratedTestSet:
    """Generated images with what they were made from.

    ``images`` uint8 ``[N, S, S, 3]``; ``captions`` int32 ``[N, T]``; ``class_ids`` int32
    ``[N]``; ``test_index`` int ``[N]``: the test image whose caption made each image;
    ``real_images`` uint8 ``[M, S, S, 3]``: the real images whose captions were drawn, M =
    min(N, split size) (centre crop, size S).
    """

    images: np.ndarray
    captions: np.ndarray
    class_ids: np.ndarray
    test_index: np.ndarray
    real_images: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def _storage(directory: Path | None, name: str, shape, dtype) -> np.ndarray:
    """An array of ``shape``: a .npy memory map in ``directory`` (for 30,000 images), or RAM."""
    if directory is None:
        return np.empty(shape, dtype)
    directory.mkdir(parents=True, exist_ok=True)
    return np.lib.format.open_memmap(directory / f"{name}.npy", "w+", dtype, shape)


def generate_test_set(model: TextToImageModule, records: DatasetSplit, config: MirrorGANConfig, *,
                      count: int, seed: int = 0, batch_size: int = 64,
                      directory: Path | None = None, verbose: int = 1) -> GeneratedTestSet:
    """``count`` images from the captions of ``records`` (see the module docstring).

    With ``directory`` the images are kept in ``generated.npy`` / ``real.npy`` memory maps
    there instead of in RAM.
    """
    size, words_num = config.generator.image_sizes[-1], config.text.words_num
    passes = math.ceil(count / len(records))
    batches = make_dataset(records, batch_size, (size,), words_num, training=False, seed=seed,
                           epochs=passes)
    images = _storage(directory, "generated", (count, size, size, 3), np.uint8)
    real_rows = min(count, len(records))  # the images whose captions are drawn
    real = _storage(directory, "real", (real_rows, size, size, 3), np.uint8)
    captions = np.zeros((count, words_num), np.int32)
    class_ids = np.zeros(count, np.int32)
    generate = tf.function(model.images_from_ids, reduce_retracing=True)
    rng = np.random.default_rng(seed)
    bar = keras.utils.Progbar(count, verbose=verbose, unit_name="image")
    done = 0
    for batch in batches:
        take = min(len(batch["captions"]), count - done)
        if take <= 0:
            break
        ids = batch["captions"][:take]
        noise = rng.standard_normal((take, model.models.generator.z_dim), np.float32)
        condition_noise = rng.standard_normal((take, model.models.generator.condition_dim),
                                              np.float32)
        images[done : done + take] = generate(ids, noise, condition_noise)["images"]
        if done < real_rows:
            stop = min(done + take, real_rows)
            real[done:stop] = np.asarray(to_uint8(batch["images"][0][: stop - done]))
        captions[done : done + take] = ids
        class_ids[done : done + take] = batch["class_ids"][:take]
        done += take
        bar.add(take)
    return GeneratedTestSet(images, captions, class_ids, np.arange(count) % len(records), real)


def inception_scores(generated: GeneratedTestSet, weights: str | None, *, splits: int = 10,
                     reference_cache: str | None = None, num_classes: int | None = None,
                     class_indices=None, verbose: int = 1) -> dict:
    """IS (mean ± std over ``splits``) of the generated images and their FID against the real
    test images, with the InceptionV3 that ``weights`` names (see
    :class:`~mirrorgan_keras.InceptionScorer`)."""
    scorer = InceptionScorer(weights, num_classes, class_indices, verbose=verbose)
    reference = reference_statistics(
        scorer, float_batches(generated.real_images), reference_cache)
    return inception_metrics(scorer, float_batches(generated.images), reference,
                                        splits)


def r_precision_scores(damsm, generated: GeneratedTestSet, *, folds: int = 10, seed: int = 0,
                       verbose: int = 1) -> dict:
    """R-precision top-1/2/3 (mean, std over folds): the DAMSM cosine of each image with its
    caption against 99 captions of other classes (docs/design.md §9)."""
    return evaluate_r_precision(
        damsm.text_encoder, damsm.image_encoder, float_batches(generated.images),
        generated.captions, class_ids=generated.class_ids, folds=folds, seed=seed,
        verbose=verbose)


def default_oracle_path(config: MirrorGANConfig) -> str:
    """Where a synthetic birds data set keeps its attribute oracle."""
    return str(Path(config.data.data_dir) / ORACLE_FILE)


def attribute_oracle(path: str | os.PathLike, verbose: int = 0) -> keras.Model:
    """The synthetic-birds attribute oracle saved at ``path``; trained on freshly drawn birds
    (about two minutes on 2 CPU cores) and saved there first when the file does not exist."""
    path = str(path)
    if os.path.exists(path):
        return load_oracle(path)
    keras.utils.set_random_seed(0)
    oracle = train_oracle(
        *draw_labelled_birds(ORACLE_TRAINING_IMAGES, seed=0), verbose=verbose)
    save_oracle(oracle, path)
    return oracle


def attribute_scores(oracle: keras.Model, generated: GeneratedTestSet, records: DatasetSplit,
                     data_dir: str) -> dict:
    """The oracle's accuracy on the attributes each caption mentions, on the generated image
    and on the real test image the caption describes (the ceiling)."""
    texts = [records.vocabulary.decode(caption) for caption in generated.captions]
    keys = [records.keys[i] for i in generated.test_index]
    labels = mask_unmentioned(read_attribute_labels(data_dir, keys), texts)
    real = generated.real_images[generated.test_index]
    return attribute_report(oracle, float_batches(real), float_batches(generated.images),
                            labels)


def evaluate_run(run_dir, records: DatasetSplit, config: MirrorGANConfig | None = None, *,
                 count: int = 30000, seed: int = 0, inception_weights: str | None = "imagenet",
                 skip_inception: bool = False, splits: int = 10, folds: int = 10,
                 oracle_path: str | None = None, skip_attributes: bool = False,
                 work_dir: Path | None = None,
                 verbose: int = 1, inception_classes: int | None = None,
                 inception_class_indices=None, damsm_weights=None,
                 field: FieldNetworks | None = None) -> dict:
    """Generates ``count`` images from the captions of ``records`` (usually the test split)
    with the run's EMA generator and scores them.

    Args:
        records: the split whose captions are drawn (the test split for the field's
            numbers); config: default the run's.
        inception_weights, inception_classes, inception_class_indices: the Inception model,
            see :class:`~mirrorgan_keras.InceptionScorer` (weights None: random,
            only to exercise the code); skip_inception: no IS / FID.
        oracle_path: the attribute oracle file (synthetic birds only; trained when missing);
            skip_attributes: no attribute accuracy.
        work_dir: where the image memory maps and the FID reference statistics are kept
            (one per split: the statistics are the split's real images').
        damsm_weights: the DAMSM the run was trained with (default the run's): its text
            encoder feeds the generator, both encoders give the R-precision.
        field: a protocol's networks (:class:`~mirrorgan_keras.evaluation.protocols.
            FieldNetworks`): IS and FID as the field computes them, instead of
            ``inception_weights``' Keras InceptionV3.

    Returns:
        ``{"protocol": {...}, "inception_score": ..., "fid": ..., "r_precision": {...},
        "attributes": {...}}`` (the metrics that apply).
    """
    config = config or run_files.load_run_config(run_dir)
    if count < len(records):  # part of the split: every class, not the first ones in order
        records = records.interleave_classes()
    files = run_files.RunFiles(run_dir)
    check_run_vocabulary(files, records.vocabulary, config.data.data_dir)
    damsm_path = damsm_weights or files.damsm
    damsm = DAMSM.from_mirrorgan_config(config, records.vocabulary.size, damsm_path)
    generator = GLAMGenerator.from_mirrorgan_config(config, files.generator)
    model = TextToImageModule(records.vocabulary, damsm.text_encoder, generator,
                              config.text.words_num)
    generated = generate_test_set(model, records, config, count=count, seed=seed,
                                  directory=work_dir, verbose=verbose)
    if field is not None:
        inception = {**field.description(), **field.caveats(config.data.dataset)}
    elif skip_inception:
        inception = "skipped"
    else:
        inception = {"weights": inception_weights or "random", "splits": splits,
                     "not_comparable": ["Keras' InceptionV3, not the field's networks"]}
    results = {"protocol": _protocol(config, generated, records, seed, folds, inception)}
    results["protocol"]["r_precision"]["damsm"] = file_record(damsm_path)
    if field is not None:
        results.update(field.scores(generated.images, generated.real_images))
    elif not skip_inception:
        cache = None if work_dir is None else str(Path(work_dir) / "fid_reference.npz")
        results.update(inception_scores(
            generated, inception_weights, splits=splits, reference_cache=cache,
            num_classes=inception_classes, class_indices=inception_class_indices,
            verbose=verbose))
    results["r_precision"] = r_precision_scores(damsm, generated, folds=folds, seed=seed,
                                                verbose=verbose)
    if config.data.dataset == "synthetic_birds" and not skip_attributes:
        oracle_path = oracle_path or default_oracle_path(config)
        results["attributes"] = attribute_scores(attribute_oracle(oracle_path), generated,
                                                 records, config.data.data_dir)
        results["protocol"]["oracle"] = oracle_path
    return results


def _protocol(config, generated, records, seed, folds, inception) -> dict:
    return {
        "images": len(generated), "image_size": config.generator.image_sizes[-1],
        "split": records.split, "split_images": len(records), "seed": seed, "generator": "EMA",
        "inception": inception,
        "r_precision": {"encoders": "the run's DAMSM", "mismatched_captions": 99,
                        "mismatches_from": "other classes", "folds": folds},
    }


def format_results(results: dict) -> str:
    """The results of :func:`evaluate_run` as a text table, protocol first."""
    protocol = results["protocol"]
    lines = [f"{protocol['images']} images at {protocol['image_size']}² from "
             f"{protocol['split_images']} {protocol['split']} images' captions "
             f"(seed {protocol['seed']}, EMA generator)"]
    rows = []
    inception = protocol["inception"]
    if "inception_score" in results:
        rows += _inception_rows(results, inception, protocol["split"])
    r_precision = results["r_precision"]
    for rank in (1, 2, 3):
        rows.append((f"R-precision top-{rank} (DAMSM, 1 + 99, {protocol['r_precision']['folds']}"
                     " folds)",
                     f"{100 * r_precision[f'top{rank}']:.2f} ± "
                     f"{100 * r_precision[f'top{rank}_std']:.2f} %"))
    if "attributes" in results:
        attributes = results["attributes"]
        rows.append(("Attribute accuracy, generated (oracle)",
                     f"{100 * attributes['generated']['mean']:.2f} %"))
        rows.append((f"Attribute accuracy, real {protocol['split']} images (oracle's ceiling)",
                     f"{100 * attributes['real']['mean']:.2f} %"))
    width = max(len(name) for name, _ in rows)
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    lines += _provenance_lines(protocol)
    if "attributes" in results:
        lines += ["", format_attribute_report(results["attributes"])]
    return "\n".join(lines)


def _inception_rows(results: dict, inception: dict, split: str) -> list[tuple[str, str]]:
    """The IS and FID rows, naming the networks that computed them."""
    score = f"{results['inception_score']:.3f} ± {results['inception_score_std']:.3f}"
    fid = f"{results['fid']:.2f}"
    if "name" not in inception:  # Keras' InceptionV3
        return [(f"Inception Score ({inception['splits']} splits, {inception['weights']})",
                 score), (f"FID vs the real {split} images", fid)]
    reference = ("the statistics file" if inception["fid_reference"] == "statistics file"
                 else f"the real {split} images")
    return [(f"Inception Score ({inception['name']} protocol: "
             f"{inception['inception_score_network']}, {inception['splits']} splits)", score),
            (f"FID ({inception['fid_network']}) vs {reference}", fid)]


def _provenance_lines(protocol: dict) -> list[str]:
    """The files behind the numbers (with SHA-256) and what keeps them from a paper's."""
    inception = protocol["inception"]
    files = {**(inception.get("files", {}) if isinstance(inception, dict) else {}),
             "damsm": protocol["r_precision"]["damsm"]}
    lines = ["", "Files:"] + [f"  {name}: {record['path']} (SHA-256 {record['sha256'][:16]}…)"
                              for name, record in files.items()]
    if isinstance(inception, dict):
        lines += [f"Not comparable with published numbers: {reason}"
                  for reason in inception.get("not_comparable", [])]
        lines += [f"Unverified: {reason}" for reason in inception.get("unverified", [])]
    return lines


SUMMARY_METRICS = {
    "r_precision_top1": ("r_precision", "top1"),
    "r_precision_top3": ("r_precision", "top3"),
    "attribute_accuracy": ("attributes", "generated", "mean"),
    "inception_score": ("inception_score",),
    "fid": ("fid",),
}


def summarize_seeds(runs: list[dict]) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation over runs (e.g. seeds) of each metric of
    :data:`SUMMARY_METRICS` that every run in ``runs`` (results of :func:`evaluate_run`) has."""
    summary = {}
    for name, path in SUMMARY_METRICS.items():
        values = [_lookup(run, path) for run in runs]
        if runs and all(value is not None for value in values):
            summary[name] = (float(np.mean(values)), float(np.std(values)))
    return summary


def _lookup(results: dict, path: tuple[str, ...]):
    for key in path:
        if not isinstance(results, dict) or key not in results:
            return None
        results = results[key]
    return results
