"""Throughput of the evaluation's Inception passes at 256², as ratios to Keras' InceptionV3 in
the same run (docs/performance.md):

- ``keras_inception_v3``: :class:`~mirrorgan_keras.evaluation.InceptionScorer` (probabilities
  and pool features in one pass), the scorer before the field's networks;
- ``fid_tf2015``: pytorch-fid's FID features (:meth:`FIDInception.pool_features`);
- ``isc_tf2015``: torch-fidelity's Inception Score logits (:meth:`FIDInception.classifier_logits`);
- ``fid_torchvision``: DM-GAN's / DF-GAN's FID features;
- ``birds_inception``: StackGAN's birds Inception (PIL resize and slim Inception-v3).

Each scorer takes ``--num_images`` random uint8 images, ``--repeats`` times in turn with the
others (the fastest repeat is kept, the least disturbed on a shared machine), after one
warm-up batch. It prints images/s, the ratio to ``keras_inception_v3``, the achieved GFLOP/s
of the network's convolutions and matrix products, its fraction of a dense float32 matmul
timed in the same run, and what 30,000 images take for each protocol::

    python benchmarks/inception_throughput.py --num_images 200 --repeats 3
"""

from __future__ import annotations

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

import argparse
import time

import numpy as np
import profiling  # noqa: I001  (benchmarks/profiling.py, beside this script)
import tensorflow as tf

from mirrorgan_keras.evaluation import InceptionScorer
from mirrorgan_keras.evaluation._batches import float_batches
from mirrorgan_keras.evaluation.birds_inception import birds_inception_probabilities
from mirrorgan_keras.evaluation.fid_inception import FIDInception
from mirrorgan_keras.layers.slim_inception import slim_inception_v3
from mirrorgan_keras.layers.torch_inception import INCEPTION_SIZE

SIDE = 256
PROTOCOL_IMAGES = 30_000
# The passes over the generated images each protocol makes (the real images' FID statistics
# come from a file or are computed once).
PROTOCOL_PASSES = {"cub": ("fid_tf2015", "birds_inception"),
                   "coco": ("fid_tf2015", "isc_tf2015")}


def scorers(batch_size: int) -> dict:
    """``{name: (score(uint8 images), network forward for the FLOP count)}``."""
    keras_scorer = InceptionScorer(None, batch_size=batch_size, verbose=0)
    tf2015 = FIDInception(None, batch_size=batch_size, verbose=0)
    torchvision = FIDInception(None, network="torchvision", batch_size=batch_size, verbose=0)
    birds = slim_inception_v3()
    def floats(images):
        return float_batches(images, batch_size)

    return {
        "keras_inception_v3": (lambda x: keras_scorer.predict(floats(x)), keras_scorer.model),
        "fid_tf2015": (lambda x: tf2015.pool_features(floats(x)), tf2015.network),
        "isc_tf2015": (lambda x: tf2015.classifier_logits(floats(x)), tf2015.network),
        "fid_torchvision": (lambda x: torchvision.pool_features(floats(x)),
                            torchvision.network),
        "birds_inception": (lambda x: birds_inception_probabilities(birds, x), birds),
    }


def flops_per_image(network, side: int) -> int:
    """Convolution and matmul FLOPs of one forward pass of ``network`` on one image."""
    forward = tf.function(lambda x: network(x, training=False))
    return profiling.graph_flops(forward.get_concrete_function(
        tf.TensorSpec((1, side, side, 3), tf.float32)))


def measure(names, runs, images, repeats: int) -> dict[str, float]:
    """Fastest seconds of each scorer on ``images``, the scorers taken in turn."""
    best = dict.fromkeys(names, float("inf"))
    for _ in range(repeats):
        for name in names:
            start = time.perf_counter()
            runs[name](images)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num_images", type=int, default=200)
    parser.add_argument("--batch_size", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--matmul_size", type=int, default=2048)
    args = parser.parse_args()
    images = np.random.default_rng(0).integers(0, 256, (args.num_images, SIDE, SIDE, 3),
                                               dtype=np.uint8)
    table = scorers(args.batch_size)
    runs = {name: run for name, (run, _) in table.items()}
    for run in runs.values():  # warm-up: tracing, first allocations
        run(images[: args.batch_size])
    seconds = measure(list(runs), runs, images, args.repeats)
    matmul = profiling.MatmulReference(args.matmul_size)
    matmul_gflops = max(matmul.gflops() for _ in range(3))
    baseline = args.num_images / seconds["keras_inception_v3"]
    print(f"{args.num_images} images at {SIDE}², batch {args.batch_size}, fastest of "
          f"{args.repeats}; dense matmul {matmul_gflops:.0f} GFLOP/s")
    print(f"{'scorer':<20}{'images/s':>10}{'× Keras':>9}{'GFLOP/s':>9}{'% matmul':>10}")
    rates = {}
    for name, (_, network) in table.items():
        rates[name] = args.num_images / seconds[name]
        side = network.inputs[0].shape[1] or INCEPTION_SIZE
        gflops = rates[name] * flops_per_image(network, side) / 1e9
        print(f"{name:<20}{rates[name]:>10.1f}{rates[name] / baseline:>9.2f}{gflops:>9.0f}"
              f"{100 * gflops / matmul_gflops:>9.0f}%")
    print(f"\n{PROTOCOL_IMAGES:,} generated images: keras_inception_v3 "
          f"{PROTOCOL_IMAGES / baseline / 60:.1f} min")
    for protocol, passes in PROTOCOL_PASSES.items():
        minutes = sum(PROTOCOL_IMAGES / rates[name] for name in passes) / 60
        print(f"  --protocol {protocol} ({' + '.join(passes)}): {minutes:.1f} min")


if __name__ == "__main__":
    main()
