"""The end-to-end demo on a CPU: synthetic birds → DAMSM → STREAM → MirrorGAN → samples + metrics.

    make demo          # or: python recipes/demo.py --run_dir runs/demo

Writes <run_dir>/samples.png (one row per test caption, columns = the 32² and 64² stages of
the EMA generator), <run_dir>/captions.txt (the rows' captions) and <run_dir>/metrics.json
(phase times, final losses, STREAM cross-entropy on real and generated test images). The
captions come from test images whose (crown, wing, belly) colours were never seen together in
training. About 12 minutes on 2 CPU cores.
"""

import mirrorgan_keras.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

import json
import shutil
import time
from pathlib import Path

from absl import app, flags

from mirrorgan_keras import cli, workflows
from mirrorgan_keras.callbacks import sample_captions
from mirrorgan_keras.data import load_split
from mirrorgan_keras.data.synthetic_birds import COLOURS, generate_synthetic_birds
from mirrorgan_keras.evaluation import redescription_loss

cli.define_common_flags("birds_tiny")
flags.adopt_module_key_flags(cli)  # list the shared flags in --help
flags.DEFINE_integer("damsm_epochs", 6, "DAMSM pretraining epochs.", lower_bound=1)
flags.DEFINE_integer("stream_epochs", None, "STREAM pretraining epochs (default: the preset's).",
                     lower_bound=1)
flags.DEFINE_integer("gan_steps", 2400, "MirrorGAN training steps.", lower_bound=1)
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
    run_dir = Path(FLAGS.run_dir or "runs/demo")
    strategy = cli.strategy()
    with cli.hold_run_lock(run_dir, strategy):
        metrics = run_demo(config, run_dir, strategy)
    print(json.dumps(metrics, indent=1))


def run_demo(config, run_dir: Path, strategy) -> dict:
    """Data (when missing), the three stages, the evaluation and the demo's files; returns the
    metrics."""
    verbose, phases, start = cli.verbosity(), {}, time.time()
    if not (Path(config.data.data_dir) / "attributes.json").exists():
        timed(phases, "data", generate_synthetic_birds, config.data.data_dir,
              num_train=FLAGS.num_train, num_test=FLAGS.num_test, image_size=FLAGS.image_size,
              seed=FLAGS.seed)
    damsm = timed(phases, "damsm", workflows.pretrain_damsm, config, run_dir, strategy,
                  epochs=FLAGS.damsm_epochs, seed=FLAGS.seed, resume=FLAGS.resume,
                  verbose=verbose)
    stream = timed(phases, "stream", workflows.pretrain_stream, config, run_dir, strategy,
                   epochs=FLAGS.stream_epochs, seed=FLAGS.seed, resume=FLAGS.resume,
                   verbose=verbose)
    test = load_split(config.data, config.text, "test")
    samples = colourful_captions(test, FLAGS.rows)
    gan = timed(phases, "mirrorgan", workflows.train_mirrorgan, config, run_dir, strategy,
                steps=FLAGS.gan_steps, checkpoint_every=300, sample_every=300, seed=FLAGS.seed,
                resume=FLAGS.resume, verbose=verbose, samples=samples)
    redescription = timed(phases, "evaluation", redescription_loss, config, run_dir, test)
    grids = sorted((run_dir / "samples").glob("step_*.png"))
    shutil.copy(grids[-1], run_dir / "samples.png")
    shutil.copy(run_dir / "samples" / "captions.txt", run_dir / "captions.txt")
    phases["total"] = round(time.time() - start, 1)
    metrics = {"preset": config.name, "phase_seconds": phases, "damsm": damsm, "stream": stream,
               "mirrorgan": gan, "redescription": redescription,
               "sample_grid": str(run_dir / "samples.png")}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


if __name__ == "__main__":
    app.run(main)
