"""The paper's ablation on the synthetic birds: does re-description (STREAM, λ > 0) help, and
does global sentence attention?

    python recipes/ablation.py --pretrained_dir runs/demo --output_dir runs/ablation

Four variants, each trained with every seed for the same number of steps from the same
pretrained DAMSM and STREAM (those of --pretrained_dir, e.g. the demo's run, whose config is
the base of every variant; λ is the base config's ``train.lambda_stream``: 20 in "cub" and
"coco", 50 in "birds_tiny"):

    mirrorgan                 λ_stream = λ, sentence attention on   (MirrorGAN)
    stream_only               λ_stream = λ, sentence attention off
    sentence_attention_only   λ_stream = 0, sentence attention on
    attngan_like              λ_stream = 0, sentence attention off  (AttnGAN without DAMSM loss)

Each run lives in <output_dir>/<variant>/seed<k>/ and is trained only when its generator is
missing; each is then scored on --num_images test captions (R-precision with the pretrained
DAMSM, attribute accuracy with the independent oracle; IS / FID with --inception_weights).
Prints mean ± std over seeds per variant and writes <output_dir>/ablation.json and
ablation.md. Run times: README.md.
"""

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

import json
from pathlib import Path

from absl import app, flags

from mirrorgan_keras.config import override
from mirrorgan_keras.data import load_split, steps_per_epoch
from mirrorgan_keras.evaluation import scoring
from mirrorgan_keras.runtime import distribute, run_files
from mirrorgan_keras.training import stages

# Each variant: (λ_stream is the base config's, sentence attention on).
VARIANTS = {
    "mirrorgan": (True, True),
    "stream_only": (True, False),
    "sentence_attention_only": (False, True),
    "attngan_like": (False, False),
}

flags.DEFINE_string("pretrained_dir", "runs/demo", "Run with config.json, damsm.weights.h5 "
                    "and stream.weights.h5 (its config is the base of every variant).")
flags.DEFINE_string("output_dir", "runs/ablation", "Where the runs and the table go.")
flags.DEFINE_list("variants", list(VARIANTS), f"Variants to run, of {list(VARIANTS)}.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Training seeds (at least 3 for a std).")
flags.DEFINE_integer("steps", None, "Training steps of every run (default: the base config's "
                     "train.max_epoch epochs, as the demo trains).", lower_bound=1)
flags.DEFINE_integer("num_images", 1200, "Generated test images per run.", lower_bound=1)
flags.DEFINE_string("inception_weights", "skip", 'IS / FID: "skip", "imagenet", a file or '
                    '"none".')
flags.DEFINE_string("oracle", None, "Attribute oracle file (default: the data set's).")
flags.DEFINE_enum("strategy", "auto", ["auto", "default", "one_device", "mirrored"],
                  "tf.distribute strategy of the training runs.")
FLAGS = flags.FLAGS


def variant_config(base_config, name: str):
    """The base config with the variant's λ_stream (the base's or 0) and sentence attention."""
    with_stream, sentence_attention = VARIANTS[name]
    lambda_stream = base_config.train.lambda_stream if with_stream else 0.0
    return override(base_config, {"train.lambda_stream": lambda_stream,
                                  "generator.sentence_attention": sentence_attention})


def run_variant(base_config, test, name: str, *, seed: int, steps: int, strategy) -> dict:
    """Trains (when needed) and scores one run on the ``test`` split; returns its results."""
    run_dir = Path(FLAGS.output_dir) / name / f"seed{seed}"
    config = variant_config(base_config, name)
    results_file = run_dir / "evaluation" / "results.json"
    if results_file.exists():
        return json.loads(results_file.read_text())
    pretrained = run_files.RunFiles(FLAGS.pretrained_dir)
    if not run_files.RunFiles(run_dir).generator.exists():
        stages.train_mirrorgan(config, run_dir, strategy, steps=steps,
                               checkpoint_every=steps, sample_every=steps,
                               seed=seed, damsm_weights=pretrained.damsm,
                               stream_weights=pretrained.stream, verbose=2)
    weights = FLAGS.inception_weights
    results = scoring.evaluate_run(
        run_dir, test, run_files.load_run_config(run_dir), count=FLAGS.num_images, seed=0,
        inception_weights=None if weights == "none" else weights,
        skip_inception=weights == "skip", oracle_path=FLAGS.oracle,
        work_dir=run_dir / "evaluation", verbose=0, damsm_weights=pretrained.damsm)
    results_file.write_text(json.dumps(results, indent=1))
    return results


def markdown_table(summaries: dict[str, dict], seeds: int, steps: int) -> str:
    """One row per variant: mean ± std over the seeds of each summarised metric."""
    metrics = [m for m in scoring.SUMMARY_METRICS if all(m in s for s in summaries.values())]
    header = f"| variant ({seeds} seeds, {steps} steps) | " + " | ".join(metrics) + " |"
    lines = [header, "|" + " --- |" * (len(metrics) + 1)]
    for name, summary in summaries.items():
        cells = [f"{summary[m][0]:.3f} ± {summary[m][1]:.3f}" for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv):
    del argv
    unknown = set(FLAGS.variants) - set(VARIANTS)
    if unknown:
        raise app.UsageError(f"unknown variants {sorted(unknown)}; choose from {list(VARIANTS)}")
    base_config = run_files.load_run_config(FLAGS.pretrained_dir)
    strategy = distribute.make_strategy(FLAGS.strategy)
    seeds = [int(seed) for seed in FLAGS.seeds]
    test = load_split(base_config.data, base_config.text, "test")
    steps = FLAGS.steps or base_config.train.max_epoch * steps_per_epoch(
        load_split(base_config.data, base_config.text, "train"), base_config.train.batch_size)
    runs = {name: [run_variant(base_config, test, name, seed=seed, steps=steps,
                               strategy=strategy)
                   for seed in seeds]
            for name in FLAGS.variants}
    summaries = {name: scoring.summarize_seeds(results) for name, results in runs.items()}
    table = markdown_table(summaries, len(seeds), steps)
    output = Path(FLAGS.output_dir)
    (output / "ablation.json").write_text(json.dumps(
        {"steps": steps, "seeds": seeds, "num_images": FLAGS.num_images,
         "summary": summaries, "runs": runs}, indent=1))
    (output / "ablation.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    app.run(main)
