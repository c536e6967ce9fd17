"""Captions → PNG images with an exported model (see recipes/export.py) or a run directory.

    python recipes/generate.py --model runs/demo/export \\
        --caption "a small bird with a red crown, blue wings and a yellow belly" \\
        --seed 3 --samples 2 --attention --output_dir generated/

    python recipes/generate.py --run_dir runs/demo --captions_file captions.txt

--run_dir draws with the run's vocabulary, STEM and EMA generator (TextToImage.from_run, no data
set needed); the same model, caption and seed give the same images as its export.

Writes <output_dir>/<caption index>_<sample>.png (the last stage) and, with --attention, a
figure <caption index>_<sample>_attention.png: the image of every stage in the first row, and
for each refinement stage a row with each word's attention map over that stage's image, as in
the AttnGAN and MirrorGAN papers. Each caption is drawn on its own, its --samples images from
--seed, so the same caption, seed, number of samples and model always give the same images.
captions.txt lists the file names. Every caption is checked first: when some have no word of
the model's vocabulary, they are all listed and nothing is written.
"""

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

import json
from pathlib import Path

from absl import app, flags
from PIL import Image

from mirrorgan_keras.evaluation.figures import attention_figure
from mirrorgan_keras.models.text_to_image import GeneratedImages, TextToImage

flags.DEFINE_string("model", None, "An exported SavedModel: a version directory or the "
                    "export directory (its highest version is used).")
flags.DEFINE_string("run_dir", None, "A run directory, instead of --model.")
flags.mark_flags_as_mutual_exclusive(["model", "run_dir"], required=True)
flags.DEFINE_multi_string("caption", [], "A caption to draw (repeatable).")
flags.DEFINE_string("captions_file", None, "A text file with one caption per line.")
flags.DEFINE_integer("seed", 0, "Seed of the noise of each caption's samples.", lower_bound=0)
flags.DEFINE_integer("samples", 1, "Images per caption.", lower_bound=1)
flags.DEFINE_bool("attention", False, "Also write the word-attention figure of each image.")
flags.DEFINE_integer("cell", 128, "Panel size of the attention figures, in pixels.",
                     lower_bound=8)
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


def write_samples(generated: GeneratedImages, caption_index: int, output_dir: Path,
                  attention: bool) -> list[list[str]]:
    """Writes the PNG (and attention figure) of each sample of one caption; returns the file
    names of each sample."""
    names = []
    for k, image in enumerate(generated.images):
        stem = f"{caption_index:03d}_{k}"
        Image.fromarray(image).save(output_dir / f"{stem}.png")
        names.append([f"{stem}.png"])
        if attention:
            figure = attention_figure([stage[k] for stage in generated.stages],
                                      [maps[k] for maps in generated.attention],
                                      generated.tokens[k], FLAGS.cell)
            Image.fromarray(figure).save(output_dir / f"{stem}_attention.png")
            names[-1].append(f"{stem}_attention.png")
    return names


def main(argv):
    del argv
    captions = read_captions()
    model = (TextToImage.from_export(FLAGS.model) if FLAGS.model
             else TextToImage.from_run(FLAGS.run_dir))
    unusable = model.captions_without_known_words(captions)
    if unusable:  # checked before any file is written
        raise SystemExit(f"{len(unusable)} of {len(captions)} captions have no word of the "
                         "model's vocabulary; nothing was written:\n"
                         + "\n".join(f"  {caption!r}" for caption in unusable))
    output_dir = Path(FLAGS.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    listing = []
    for i, caption in enumerate(captions):
        generated = model.generate(caption, seed=FLAGS.seed, num_samples=FLAGS.samples,
                                   return_attention=True)
        for names in write_samples(generated, i, output_dir, FLAGS.attention):
            listing.append(f"{' '.join(names)}\t{caption}")
    (output_dir / "captions.txt").write_text("\n".join(listing) + "\n", encoding="utf-8")
    print(json.dumps({"output_dir": str(output_dir), "images": len(listing)}))


if __name__ == "__main__":
    app.run(main)
