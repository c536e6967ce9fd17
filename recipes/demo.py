"""The end-to-end demo on a CPU: synthetic birds → DAMSM → STREAM → MirrorGAN → samples + metrics.

    make demo          # or: python recipes/demo.py --run_dir runs/demo

Writes <run_dir>/samples.png (each test caption written above its row: the 32² and 64² stages
of the EMA generator, then the real test image the caption describes), <run_dir>/captions.txt
and <run_dir>/metrics.json (phase times, final losses, STREAM's image dependence, both
encoders' colour-swap test, the closing report's numbers). The captions come from test images
whose (crown, wing, belly) colours were never seen together in training. It ends with a
report: R-precision of the generated images and how well STREAM reads their captions back,
beside real and mismatched images. Phase times and numbers: README.md; the attribute oracle:
the evaluate command printed at the end.
"""

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

import json
import shutil
import time
from pathlib import Path

from absl import app, flags

from mirrorgan_keras.config import override
from mirrorgan_keras.data import load_split
from mirrorgan_keras.data.synthetic_birds import COLOURS, generate_synthetic_birds
from mirrorgan_keras.evaluation import (
    image_dependence_warning,
    redescription_loss,
    swapped_word_preference,
)
from mirrorgan_keras.evaluation.scoring import evaluate_run, format_results
from mirrorgan_keras.models import DAMSM, STREAM
from mirrorgan_keras.runtime import precision
from mirrorgan_keras.runtime.run_files import RunFiles
from mirrorgan_keras.training import cli, stages
from mirrorgan_keras.training.samples import sample_captions

cli.define_common_flags("birds_tiny", default_run_dir="runs/demo")
flags.adopt_module_key_flags(cli)  # list the shared flags in --help
flags.DEFINE_integer("damsm_epochs", None, "DAMSM pretraining epochs (default: the preset's).",
                     lower_bound=1)
flags.DEFINE_integer("stream_epochs", None, "STREAM pretraining epochs (default: the preset's).",
                     lower_bound=1)
flags.DEFINE_integer("gan_steps", None, "MirrorGAN training steps (default: the preset's "
                     "train.max_epoch epochs).", lower_bound=1)
flags.DEFINE_integer("report_images", 600, "Test images generated for the closing report.",
                     lower_bound=1)
flags.DEFINE_integer("num_train", 2400, "Synthetic training images.", lower_bound=1)
flags.DEFINE_integer("num_test", 600, "Synthetic test images.", lower_bound=1)
flags.DEFINE_integer("image_size", 96, "Side of the drawn synthetic images.", lower_bound=1)
flags.DEFINE_integer("rows", 8, "Captions in the sample grid.", lower_bound=1)
FLAGS = flags.FLAGS


def colourful_captions(records, count: int):
    """For ``count`` test images spread over the split, the caption naming the most colours:
    ids ``[count, T]`` and texts."""
    colours = set(COLOURS)

    def most_colourful(captions):
        return max(captions, key=lambda c: sum(
            w in colours for w in records.vocabulary.decode(c).split()))

    return sample_captions(records, count, most_colourful)


def timed(phases: dict, name: str, function, *args, **kwargs):
    start = time.time()
    result = function(*args, **kwargs)
    phases[name] = round(time.time() - start, 1)
    print(f"[demo] {name}: {phases[name]} s", flush=True)
    return result


def main(argv):
    del argv
    config = cli.config_from_flags(**{"data.data_dir": FLAGS.data_dir or "data/synthetic_birds"})
    run_dir = Path(cli.run_dir())
    strategy = cli.strategy_from_flags()
    with cli.lock_run_directory(run_dir, strategy):
        run_demo(config, run_dir, strategy)


def run_demo(config, run_dir: Path, strategy) -> dict:
    """Data (when missing), the three stages, the closing report and the demo's files; returns
    the metrics."""
    verbose, phases, start = cli.verbosity(), {}, time.time()
    if not (Path(config.data.data_dir) / "attributes.json").exists():
        timed(phases, "data", generate_synthetic_birds, config.data.data_dir,
              num_train=FLAGS.num_train, num_test=FLAGS.num_test, image_size=FLAGS.image_size,
              seed=FLAGS.seed)
    test = load_split(config.data, config.text, "test")
    damsm = timed(phases, "damsm", stages.pretrain_damsm, config, run_dir, strategy,
                  epochs=FLAGS.damsm_epochs, seed=FLAGS.seed, resume=FLAGS.resume,
                  verbose=verbose)
    damsm["colour_swaps"] = report_colour_swaps(
        DAMSM.from_mirrorgan_config(config, test.vocabulary.size, RunFiles(run_dir).damsm),
        config, test)
    stream = timed(phases, "stream", stages.pretrain_stream, config, run_dir, strategy,
                   epochs=FLAGS.stream_epochs, seed=FLAGS.seed, resume=FLAGS.resume,
                   verbose=verbose)
    stream["colour_swaps"] = report_stream(config, run_dir, stream["test"], test)
    gan = timed(phases, "mirrorgan", stages.train_mirrorgan, gan_config(config), run_dir,
                strategy, steps=FLAGS.gan_steps, checkpoint_every=300, sample_every=300,
                seed=FLAGS.seed, resume=FLAGS.resume, verbose=verbose,
                samples=colourful_captions(test, FLAGS.rows))
    report = timed(phases, "report", closing_report, config, run_dir, test)
    shutil.copy(sorted((run_dir / "samples").glob("step_*.png"))[-1], run_dir / "samples.png")
    shutil.copy(run_dir / "samples" / "captions.txt", run_dir / "captions.txt")
    phases["total"] = round(time.time() - start, 1)
    metrics = {"preset": config.name, "phase_seconds": phases, "damsm": damsm, "stream": stream,
               "mirrorgan": gan, **report, "sample_grid": str(run_dir / "samples.png")}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print(f"[demo] {phases['total']} s in all; wrote {run_dir / 'samples.png'} and "
          f"{run_dir / 'metrics.json'}")
    return metrics


def gan_config(config):
    """The GAN stage's configuration: in bfloat16 when the CPU computes in it natively and
    ``--mixed_precision`` is not given (the bare step of ``benchmarks/train_step.py`` is
    1.3–1.6× faster; the pretrainings stay float32)."""
    if FLAGS.mixed_precision is not None or not precision.cpu_has_native_bfloat16():
        return config
    print("[demo] MirrorGAN trains in bfloat16: this CPU computes in it natively "
          "(--mixed_precision float32 to train in float32)", flush=True)
    return override(config, {"compute.mixed_precision": "mixed_bfloat16"})


def report_stream(config, run_dir: Path, stream_test: dict, test) -> dict:
    """Prints how much STREAM's captions depend on the image (with a warning when too little
    for re-description to guide the generator) and whether it binds colours to parts; returns
    the colour-swap result."""
    print(f"[demo] STREAM caption cross-entropy on test images: {stream_test['loss']:.3f} true, "
          f"{stream_test['loss_mismatched_images']:.3f} of another class: image_dependence "
          f"{stream_test['image_dependence']:.3f}", flush=True)
    warning = image_dependence_warning(stream_test["image_dependence"])
    if warning:
        print(f"[demo] WARNING: {warning}", flush=True)
    return report_colour_swaps(
        STREAM.from_mirrorgan_config(config, test.vocabulary.size, RunFiles(run_dir).stream),
        config, test)


def report_colour_swaps(model, config, test) -> dict:
    """Prints and returns how often DAMSM or STREAM prefers a test caption to the same caption
    with two colours swapped: how well it binds colours to parts."""
    swaps = swapped_word_preference(model, config, test, COLOURS)
    print(f"[demo] {type(model).__name__} prefers the true caption to one with two colours "
          f"swapped for {100 * swaps['preference']:.1f} % of {swaps['images']} test images "
          "(50 %: blind to which part has which colour)", flush=True)
    return swaps


def closing_report(config, run_dir: Path, test) -> dict:
    """Prints and returns R-precision of the generated test images and STREAM's re-description
    cross-entropy on generated, true and mismatched images."""
    scores = evaluate_run(run_dir, test, config, count=FLAGS.report_images, seed=FLAGS.seed,
                          skip_inception=True, skip_attributes=True, verbose=0)
    redescription = redescription_loss(config, run_dir, test)
    print("\n[demo] closing report, on test captions whose colour combinations training never "
          "saw\n" + format_results(scores))
    print(f"STREAM caption cross-entropy ({redescription['images']} test captions; lower = "
          f"read back better): generated {redescription['stream_ce_generated']:.3f}, true "
          f"images {redescription['stream_ce_real']:.3f}, images of another class "
          f"{redescription['stream_ce_mismatched']:.3f}")
    print(f"Attribute accuracy by the oracle (trains it once, about 2 minutes):\n"
          f"  python recipes/evaluate.py --run_dir {run_dir} --data_dir {config.data.data_dir} "
          f"--num_images 600 --inception_weights skip\n", flush=True)
    return {"r_precision": scores["r_precision"], "redescription": redescription}


if __name__ == "__main__":
    app.run(main)
