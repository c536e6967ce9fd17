"""Captions → PNG images with an exported model (see recipes/export.py).

    python recipes/generate.py --model runs/demo/export \\
        --caption "a small bird with a red crown, blue wings and a yellow belly" \\
        --seed 3 --samples 2 --attention --output_dir generated/

    python recipes/generate.py --model runs/demo/export --captions_file captions.txt

Writes <output_dir>/<caption index>_<sample>.png (the last stage) and, with --attention, a
figure <caption index>_<sample>_attention.png: the image of every stage in the first row, and
for each refinement stage a row with each word's attention map over that stage's image, as in
the AttnGAN and MirrorGAN papers. Sample k of every caption uses seed --seed + k, so the same
caption, seed and model always give the same image. captions.txt lists the file names.
"""

import mirrorgan_keras.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

import json
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import app, flags
from PIL import Image

from mirrorgan_keras.export import load_exported
from mirrorgan_keras.figures import attention_figure

flags.DEFINE_string("model", None, "An exported SavedModel: a version directory or the "
                    "export directory (its highest version is used).", required=True)
flags.DEFINE_multi_string("caption", [], "A caption to draw (repeatable).")
flags.DEFINE_string("captions_file", None, "A text file with one caption per line.")
flags.DEFINE_integer("seed", 0, "Seed of the noise; sample k uses seed + k.")
flags.DEFINE_integer("samples", 1, "Images per caption.")
flags.DEFINE_bool("attention", False, "Also write the word-attention figure of each image.")
flags.DEFINE_integer("cell", 128, "Panel size of the attention figures, in pixels.")
flags.DEFINE_string("output_dir", "generated", "Where the PNG files go.")
FLAGS = flags.FLAGS


def read_captions() -> list[str]:
    """The captions of --caption and --captions_file (blank lines skipped), in order."""
    captions = list(FLAGS.caption)
    if FLAGS.captions_file:
        lines = Path(FLAGS.captions_file).read_text(encoding="utf-8").splitlines()
        captions += [line.strip() for line in lines if line.strip()]
    if not captions:
        raise app.UsageError("give --caption (repeatable) or --captions_file")
    return captions


def write_sample(outputs: dict, stem: Path, attention: bool) -> list[str]:
    """Writes one generated sample's PNG (and attention figure); returns the file names."""
    Image.fromarray(outputs["images"][0]).save(stem.with_suffix(".png"))
    names = [stem.name + ".png"]
    if attention:
        stages = [outputs[name][0] for name in sorted(outputs) if name.startswith("stage")]
        maps = [outputs[f"attention{i}"][0] for i in range(1, len(stages))]
        tokens = [token.decode("utf-8") for token in outputs["tokens"][0]]
        figure = attention_figure(stages, maps, tokens, FLAGS.cell)
        Image.fromarray(figure).save(stem.parent / f"{stem.name}_attention.png")
        names.append(f"{stem.name}_attention.png")
    return names


def main(argv):
    del argv
    captions = read_captions()
    generate = load_exported(FLAGS.model).signatures["generate_from_seed"]
    output_dir = Path(FLAGS.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    listing = []
    for i, caption in enumerate(captions):
        for k in range(FLAGS.samples):
            outputs = generate(captions=tf.constant([caption]),
                               seed=tf.constant(FLAGS.seed + k, tf.int64))
            outputs = {name: np.asarray(value) for name, value in outputs.items()}
            names = write_sample(outputs, output_dir / f"{i:03d}_{k}", FLAGS.attention)
            listing.append(f"{' '.join(names)}\t{caption}")
    (output_dir / "captions.txt").write_text("\n".join(listing) + "\n", encoding="utf-8")
    print(json.dumps({"output_dir": str(output_dir), "images": len(listing)}))


if __name__ == "__main__":
    app.run(main)
