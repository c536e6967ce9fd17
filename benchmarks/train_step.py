"""Step throughput of MirrorGAN: images/s, achieved GFLOP/s, its fraction of a dense matmul
timed in the same process, and peak memory, for each preset, workload and variant.

Workloads (after ``--warmup`` untimed calls, ``--steps`` timed ones):

- ``mirrorgan``: the full training step: every discriminator update, the generator update and
  the moving average (``MirrorGAN.train_step`` compiled as ``fit`` compiles it);
- ``damsm``, ``stream``: the DAMSM and STREAM pretraining steps (at their own batch sizes);
- ``generate``: the exported text-to-image SavedModel (``serving_default``: caption strings
  → uint8 images), loaded back from disk;
- ``pipeline``: the tf.data input pipeline (JPEG decode, box crop, resize, random crop and
  flip, image pyramid) at the preset's sizes and batch, on synthetic birds drawn large enough
  that the largest crop is a downscale; printed with its ratio to the fastest training step.

Variants: ``plain`` (float32), ``xla`` (``compute.jit_compile``), ``bf16``
(``compute.mixed_precision="mixed_bfloat16"``), ``xla+bf16``, ``fp16`` (mixed_float16, for
GPUs). Generation runs the plain and mixed-precision variants (an export is not XLA-compiled).

Method. FLOPs are counted in the traced graph of the timed function
(:func:`profiling.graph_flops`, ``benchmarks/profiling.py``: 2 × multiply-adds of every
convolution and matrix product that runs, forward and backward, LSTM loops × time steps,
unused gradients pruned; element-wise work not counted). A float32 ``--matmul_size``² matmul is
timed before the first and after each timed step; the fastest step and the fastest matmul are
kept (on a machine shared with other jobs, the least disturbed samples) and "% of matmul" is the
ratio of their GFLOP/s; "vs plain" divides it by the plain variant's. Pretrained backbones use
random weights (``weights=None``: same cost). Each measurement runs in a fresh process: its
peak memory is the peak resident set size minus the resident size before the models were
built (on a GPU: the peak allocation).

    python benchmarks/train_step.py --presets birds_tiny,cub --steps 3
"""

from __future__ import annotations

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

import argparse
import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import profiling  # noqa: I001  (benchmarks/profiling.py, beside this script)
import tensorflow as tf

from mirrorgan_keras.config import MirrorGANConfig, get_preset, override
from mirrorgan_keras.data import load_split, make_config_dataset
from mirrorgan_keras.data.synthetic_birds import generate_synthetic_birds
from mirrorgan_keras.data.vocabulary import Vocabulary
from mirrorgan_keras.models import DAMSM, STREAM, GLAMGenerator, MirrorGAN, adam_optimizers
from mirrorgan_keras.models.export import export_saved_model, load_exported
from mirrorgan_keras.models.text_to_image import TextToImageModule
from mirrorgan_keras.runtime import precision

# Vocabulary sizes of the real data sets (AttnGAN's captions.pickle); birds_tiny's is small.
VOCABULARY_SIZES = {"birds_tiny": 64, "cub": 5450, "coco": 27297}
VARIANTS = {
    "plain": {},
    "xla": {"compute.jit_compile": True},
    "bf16": {"compute.mixed_precision": "mixed_bfloat16"},
    "xla+bf16": {"compute.jit_compile": True, "compute.mixed_precision": "mixed_bfloat16"},
    "fp16": {"compute.mixed_precision": "mixed_float16"},
}
WORKLOADS = ("mirrorgan", "damsm", "stream", "generate", "pipeline")


@dataclasses.dataclass(frozen=True)
class Task:
    """One measurement, run in its own process."""

    preset: str
    workload: str
    variant: str
    steps: int
    warmup: int
    matmul_size: int


def benchmark_config(preset: str, variant: str) -> MirrorGANConfig:
    """The preset with random backbone weights (nothing to download) and the variant's
    compute settings."""
    return override(get_preset(preset), {"damsm.weights": None, "stream.weights": None,
                                         **VARIANTS[variant]})


def random_captions(config: MirrorGANConfig, vocab_size: int, batch: int,
                    rng: np.random.Generator) -> np.ndarray:
    """int32 ``[batch, words_num]``: ids ≥ 1 right-padded with 0, lengths from T/2 to T."""
    words_num = config.text.words_num
    captions = np.zeros((batch, words_num), np.int32)
    for row in captions:
        length = rng.integers(words_num // 2, words_num + 1)
        row[:length] = rng.integers(1, vocab_size, length)
    return captions


def random_batch(config, vocab_size: int, batch: int, sizes) -> dict:
    """A training batch in memory: ``images`` (one tensor per size in [-1, 1]), ``captions``,
    ``class_ids`` (all different: no masked DAMSM negatives)."""
    rng = np.random.default_rng(0)
    images = tuple(tf.constant(rng.uniform(-1, 1, (batch, s, s, 3)), tf.float32) for s in sizes)
    return {"images": images,
            "captions": tf.constant(random_captions(config, vocab_size, batch, rng)),
            "class_ids": tf.range(batch, dtype=tf.int32)}


def mirrorgan_step(config, vocab_size):
    """(train_step, batch) of MirrorGAN built as ``stages.train_mirrorgan`` builds it."""
    damsm = DAMSM.from_mirrorgan_config(config, vocab_size)
    stream = (STREAM.from_mirrorgan_config(config, vocab_size) if config.train.lambda_stream
              else None)
    gan = MirrorGAN.from_mirrorgan_config(config, damsm.text_encoder, stream=stream,
                                          image_encoder=damsm.image_encoder)
    gan.compile(*adam_optimizers(config.train, config.generator.stages),
                jit_compile=config.compute.jit_compile)
    gan.initialize(config.text.words_num)
    batch = config.train.batch_size
    return gan.train_step, random_batch(config, vocab_size, batch, config.generator.image_sizes)


def damsm_step(config, vocab_size):
    """(train_step, batch) of DAMSM pretraining."""
    damsm = DAMSM.from_mirrorgan_config(config, vocab_size)
    damsm.compile(optimizer=keras.optimizers.Adam(config.damsm.learning_rate, beta_1=0.5),
                  jit_compile=config.compute.jit_compile)
    sizes = (config.damsm.image_size,)
    return damsm.train_step, random_batch(config, vocab_size, config.damsm.batch_size, sizes)


def stream_step(config, vocab_size):
    """(train_step, batch) of STREAM pretraining."""
    stream = STREAM.from_mirrorgan_config(config, vocab_size)
    stream.compile(optimizer=keras.optimizers.Adam(config.stream.learning_rate),
                   jit_compile=config.compute.jit_compile)
    sizes = (config.stream.image_size,)
    return stream.train_step, random_batch(config, vocab_size, config.stream.batch_size, sizes)


TRAINING_STEPS = {"mirrorgan": mirrorgan_step, "damsm": damsm_step, "stream": stream_step}


def measure_training(task: Task, config, vocab_size, reference) -> dict:
    """Times a training step on a batch already in memory."""
    train_step, batch = TRAINING_STEPS[task.workload](config, vocab_size)
    step = tf.function(train_step, jit_compile=config.compute.jit_compile)
    flops = profiling.graph_flops(step.get_concrete_function(batch))

    def run():
        logs = step(batch)
        return float(next(iter(logs.values())))

    for _ in range(task.warmup):
        run()
    timing = profiling.time_interleaved(run, reference, task.steps, flops)
    return {"batch": len(batch["captions"]), **_timing_row(timing, len(batch["captions"]))}


def measure_generation(task: Task, config, vocab_size, reference) -> dict:
    """Times the exported serving signature: caption strings → uint8 images (the generator is
    untrained; its cost does not depend on its weights)."""
    damsm = DAMSM.from_mirrorgan_config(config, vocab_size)
    generator = GLAMGenerator.from_mirrorgan_config(config)
    words_num, batch = config.text.words_num, config.train.batch_size
    vocabulary = Vocabulary([f"w{i}" for i in range(1, vocab_size - 1)])
    rng = np.random.default_rng(0)
    ids = random_captions(config, vocabulary.size - 1, batch, rng)
    model = TextToImageModule(vocabulary, damsm.text_encoder, generator, words_num)
    captions = tf.constant([vocabulary.decode(row[row > 0]) for row in ids])
    noise = [tf.zeros((batch, width)) for width in (generator.z_dim, generator.condition_dim)]
    count = tf.function(model.images_from_ids).get_concrete_function(tf.constant(ids), *noise)
    with tempfile.TemporaryDirectory() as export_dir:
        serve = load_exported(export_saved_model(model, export_dir)).signatures[
            "serving_default"]

        def run():
            return serve(captions=captions)["images"].numpy()

        for _ in range(task.warmup):
            run()
        timing = profiling.time_interleaved(run, reference, task.steps,
                                            profiling.graph_flops(count))
    return {"batch": batch, **_timing_row(timing, batch)}


def measure_pipeline(task: Task, config) -> dict:
    """Images/s of the training input pipeline on synthetic birds in a temporary directory."""
    batch = config.train.batch_size
    batches = 10 * (task.warmup + task.steps)
    final = config.generator.image_sizes[-1]
    with tempfile.TemporaryDirectory() as root:
        data_dir = os.path.join(root, "synthetic_birds")
        generate_synthetic_birds(data_dir, num_train=4 * batch, num_test=9,
                                 image_size=max(96, final * 5 // 4))
        config = override(config, {"data.dataset": "synthetic_birds", "data.data_dir": data_dir})
        records = load_split(config.data, config.text, "train")
        iterator = iter(make_config_dataset(records, config, "gan", training=True))
        for _ in range(batches // 4):
            next(iterator)
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        seconds = (time.perf_counter() - start) / batches
    return {"batch": batch, "seconds": seconds, "images_per_s": batch / seconds}


def _timing_row(timing: profiling.Timing, batch: int) -> dict:
    return {"seconds": timing.seconds, "images_per_s": batch / timing.seconds,
            "gflop_per_step": timing.flops / 1e9, "gflops": timing.gflops,
            "matmul_gflops": timing.matmul_gflops,
            "percent_of_matmul": 100 * timing.fraction_of_matmul}


def run_task(task: Task) -> dict:
    """Runs one measurement (in a fresh process) and returns its table row."""
    config = benchmark_config(task.preset, task.variant)
    row = {"preset": task.preset, "workload": task.workload, "variant": task.variant}
    if task.workload == "pipeline":
        return {**row, **measure_pipeline(task, config)}
    vocab_size = VOCABULARY_SIZES[task.preset]
    reference = profiling.MatmulReference(task.matmul_size)
    baseline = profiling.resident_bytes()
    with precision.dtype_policy(config.compute.mixed_precision):
        measure = measure_generation if task.workload == "generate" else measure_training
        row.update(measure(task, config, vocab_size, reference))
    peak, method = profiling.peak_memory_bytes(baseline)
    row.update(peak_mib=peak / 2**20, memory_method=method)
    if config.compute.mixed_precision == "mixed_bfloat16":
        row["bf16_matmul_gflops"] = profiling.MatmulReference(task.matmul_size,
                                                              tf.bfloat16).gflops()
    return row


def tasks(args) -> list[Task]:
    """Every requested (preset, workload, variant); the pipeline once per preset, generation
    without XLA."""
    found = []
    for preset in args.presets:
        for workload in args.workloads:
            variants = args.variants
            if workload == "pipeline":
                variants = ["plain"]
            elif workload == "generate":
                variants = [v for v in variants if "xla" not in v]
            found += [Task(preset, workload, v, args.steps, args.warmup, args.matmul_size)
                      for v in variants]
    return found


def run_isolated(task: Task) -> dict:
    """:func:`run_task` in a fresh process (own memory peak, dtype policy and XLA caches)."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(run_task, task).result()


COLUMNS = (  # (row key, header, format)
    ("preset", "preset", "{}"), ("workload", "workload", "{}"), ("variant", "variant", "{}"),
    ("batch", "batch", "{}"), ("images_per_s", "images/s", "{:.2f}"),
    ("seconds", "s/step", "{:.3f}"), ("gflop_per_step", "GFLOP/step", "{:.1f}"),
    ("gflops", "GFLOP/s", "{:.0f}"), ("matmul_gflops", "matmul GFLOP/s", "{:.0f}"),
    ("percent_of_matmul", "% of matmul", "{:.0f} %"), ("vs_plain", "vs plain", "{:.2f}×"),
    ("peak_mib", "peak MiB", "{:.0f}"),
)


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table (blank where a workload has no such value). ``vs_plain``:
    the speed of a variant over the plain one of the same preset and workload, from their
    fractions of the matmul timed alongside (so a change of machine load between the two
    measurements cancels out)."""
    plain = {(r["preset"], r["workload"]): r for r in rows if r["variant"] == "plain"}
    lines = ["| " + " | ".join(header for _, header, _ in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    for row in rows:
        reference = plain.get((row["preset"], row["workload"]), {})
        if "percent_of_matmul" in reference:
            row = {**row, "vs_plain": row["percent_of_matmul"] / reference["percent_of_matmul"]}
        cells = [form.format(row[key]) if key in row else "" for key, _, form in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(rows: list[dict]) -> list[str]:
    """Per preset: the pipeline's images/s over the fastest MirrorGAN step's, and the fastest
    bfloat16 matmul measured."""
    lines = []
    for preset in dict.fromkeys(row["preset"] for row in rows):
        mine = [r for r in rows if r["preset"] == preset]
        pipeline = [r for r in mine if r["workload"] == "pipeline"]
        steps = [r for r in mine if r["workload"] == "mirrorgan"]
        if pipeline and steps:
            fastest = max(steps, key=lambda r: r["images_per_s"])
            ratio = pipeline[0]["images_per_s"] / fastest["images_per_s"]
            lines.append(f"{preset}: input pipeline {pipeline[0]['images_per_s']:.0f} images/s "
                         f"= {ratio:.0f}× the fastest MirrorGAN step ({fastest['variant']}, "
                         f"{fastest['images_per_s']:.2f} images/s)")
        bfloat16 = [r["bf16_matmul_gflops"] for r in mine if "bf16_matmul_gflops" in r]
        if bfloat16:
            lines.append(f"{preset}: bfloat16 matmul in the same processes: up to "
                         f"{max(bfloat16):.0f} GFLOP/s")
    return lines


def _names(text: str) -> list[str]:
    return text.split(",")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", type=_names, default=["birds_tiny", "cub", "coco"])
    parser.add_argument("--workloads", type=_names, default=list(WORKLOADS))
    parser.add_argument("--variants", type=_names, default=["plain", "xla", "bf16"])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--matmul_size", type=int, default=4096)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()
    unknown = (set(args.variants) - set(VARIANTS)) | (set(args.workloads) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown variants or workloads: {sorted(unknown)}")
    print(f"{os.cpu_count()} CPUs, GPUs: {len(tf.config.list_physical_devices('GPU'))}, "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}; FLOPs counted in the "
          f"traced graph, matmul {args.matmul_size}² float32 timed after each step", flush=True)
    rows = []
    for task in tasks(args):
        rows.append(run_isolated(task))
        print(json.dumps(rows[-1]), flush=True)
    print(markdown_table(rows))
    print("\n".join(summary(rows)))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
