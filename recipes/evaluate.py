"""Scores a trained run: Inception Score, FID, R-precision and (synthetic birds) attribute
accuracy of images the EMA generator makes from test captions (docs/design.md §9).

    python recipes/evaluate.py --run_dir runs/cub --protocol cub \
        --fid_inception pt_inception-2015-12-05-6726825d.pth \
        --birds_inception inception_finetuned_models/birds_valid299/model.ckpt-5000 \
        --real_statistics bird_val256_FIDK0.npz      # the field's CUB numbers
    python recipes/evaluate.py --run_dir runs/cub                       # 30,000 images
    python recipes/evaluate.py --run_dir runs/demo --num_images 1200 --inception_weights skip
    python recipes/evaluate.py --run_dir runs/demo --num_images 600 --inception_weights skip \
        --split train      # the training captions: learnt, or not generalised?
    python recipes/evaluate.py --run_dir runs/demo --captions my_captions.txt   # your captions
    python recipes/evaluate.py --run_dir runs/demo --captions heldout   # the held-out phrasings

--protocol cub / coco runs the field's protocol (docs/evaluation.md): its image count, splits
and folds, FID with the 2015 Inception as pytorch-fid computes it, IS with StackGAN's birds
Inception (cub) or the 2015 Inception as torch-fidelity computes it (coco); every file it needs
is checked before any image is generated. Without it, IS and FID come from Keras' InceptionV3
and are marked not comparable with published numbers.

Prints one table with the protocol (number of images, splits, folds, networks, files with their
SHA-256) and writes it as JSON to <run_dir>/evaluation/results.json (--split train:
<run_dir>/evaluation/train/results.json; or --output). --inception_weights:
"imagenet" (Keras downloads it once), a local .keras / .weights.h5 file (e.g. a converted
fine-tuned birds Inception, with --inception_classes and --inception_class_indices), "none"
(random weights: only exercises the code) or "skip".
"""

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

import json
from pathlib import Path

from absl import app, flags

from mirrorgan_keras.data import load_split
from mirrorgan_keras.evaluation import scoring
from mirrorgan_keras.evaluation.captions import (
    HELDOUT_PHRASINGS,
    format_caption_report,
    read_caption_file,
    score_captions,
)
from mirrorgan_keras.evaluation.protocols import (
    PROTOCOLS,
    FieldNetworks,
    ProtocolError,
    check_protocol_files,
)
from mirrorgan_keras.models.text_to_image import TextToImage
from mirrorgan_keras.runtime import run_files

flags.DEFINE_string("run_dir", None, "The trained run.", required=True)
flags.DEFINE_string("data_dir", None, "Data set directory (default: the run's).")
flags.DEFINE_string("damsm_weights", None, "The DAMSM the run was trained with (default "
                    "<run_dir>/damsm.weights.h5).")
flags.DEFINE_enum("split", "test", ["test", "train"], "Whose captions: the test split's "
                  "(unseen classes) or the training split's.")
flags.DEFINE_enum("protocol", "none", ["none", *PROTOCOLS], "The field's evaluation protocol "
                  "(fixes the image count, splits, folds and networks), or none.")
flags.DEFINE_string("fid_inception", None, "--protocol: the FID network's weights: "
                    "pytorch-fid's pt_inception-2015-12-05-6726825d.pth (--fid_network "
                    "tf2015), torchvision's inception_v3_google-0cc3c7bd.pth (torchvision), or "
                    "their .weights.h5.")
flags.DEFINE_enum("fid_network", "tf2015", ["tf2015", "torchvision"], "--protocol: the FID "
                  "network: the 2015 Inception as pytorch-fid (the standard FID), or "
                  "torchvision's ImageNet Inception as DM-GAN's, DF-GAN's and GALIP's code.")
flags.DEFINE_string("is_inception", None, "--protocol coco: the 2015 Inception for the "
                    "Inception Score (default --fid_inception with --fid_network tf2015).")
flags.DEFINE_string("birds_inception", None, "--protocol cub: StackGAN's birds Inception "
                    "checkpoint prefix (model.ckpt-5000) or its .weights.h5.")
flags.DEFINE_string("real_statistics", None, "--protocol: FID statistics of the real images "
                    "(.npz with mu, sigma; recipes/fid_statistics.py writes one); default: "
                    "computed from the real images whose captions were drawn.")
flags.DEFINE_integer("num_images", None, "Images to generate (loops over the test set; "
                     "default 30,000, the protocol's with --protocol).", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the caption choice and the noise.", lower_bound=0)
flags.DEFINE_string("inception_weights", "imagenet",
                    '"imagenet", a local .keras or .weights.h5 file, "none" or "skip".')
flags.DEFINE_integer("inception_classes", None, "Classes of a .weights.h5 Inception file.",
                     lower_bound=1)
flags.DEFINE_list("inception_class_indices", None, "Classes p(y|x) is taken over, e.g. 1-50 "
                  "of a 51-logit birds model (comma-separated; default all).")
flags.DEFINE_integer("splits", 10, "Inception Score splits.", lower_bound=1)
flags.DEFINE_integer("folds", 10, "R-precision folds.", lower_bound=1)
flags.DEFINE_string("oracle", None, "Attribute oracle file (synthetic birds; default "
                    "<data_dir>/attribute_oracle.keras, trained when missing).")
flags.DEFINE_string("output", None, "Results JSON (default <run_dir>/evaluation/results.json).")
flags.DEFINE_enum("verbose", "1", ["0", "1"], "Progress bars.")
flags.DEFINE_string("captions", None, "Synthetic birds: score these captions instead (a text "
                    "file, one caption or family<TAB>caption a line; \"heldout\": the "
                    "held-out phrasing set), see evaluation/captions.py.")
flags.DEFINE_integer("samples_per_caption", 4, "--captions: images drawn of each caption.",
                     lower_bound=1)
FLAGS = flags.FLAGS
DEFAULT_IMAGES = 30_000


def field_networks() -> FieldNetworks | None:
    """The --protocol's networks, loaded after checking every file it needs; None without."""
    if FLAGS.protocol == "none":
        return None
    protocol = PROTOCOLS[FLAGS.protocol]
    damsm = FLAGS.damsm_weights or run_files.RunFiles(FLAGS.run_dir).damsm
    networks = {"fid_inception": FLAGS.fid_inception, "fid_network": FLAGS.fid_network,
                "is_inception": FLAGS.is_inception, "birds_inception": FLAGS.birds_inception,
                "real_statistics": FLAGS.real_statistics}
    try:
        check_protocol_files(protocol, **networks, damsm=str(damsm),
                             num_images=FLAGS.num_images or protocol.images)
    except ProtocolError as error:
        raise SystemExit(str(error)) from None
    return FieldNetworks(protocol, **networks, verbose=int(FLAGS.verbose))


def main(argv):
    del argv
    if FLAGS.captions:
        return score_caption_file()
    config = run_files.load_run_config(FLAGS.run_dir, FLAGS.data_dir)
    field = field_networks()
    work_dir = Path(FLAGS.run_dir) / "evaluation"
    if field is not None:
        work_dir /= field.protocol.name
    if FLAGS.split != "test":
        work_dir /= FLAGS.split
    weights = FLAGS.inception_weights
    protocol = field.protocol if field is not None else None
    results = scoring.evaluate_run(
        FLAGS.run_dir, load_split(config.data, config.text, FLAGS.split), config,
        count=FLAGS.num_images or (protocol.images if protocol else DEFAULT_IMAGES),
        seed=FLAGS.seed, inception_weights=None if weights == "none" else weights,
        skip_inception=weights == "skip", field=field,
        splits=protocol.splits if protocol else FLAGS.splits,
        folds=protocol.folds if protocol else FLAGS.folds,
        oracle_path=FLAGS.oracle, work_dir=work_dir, verbose=int(FLAGS.verbose),
        inception_classes=FLAGS.inception_classes,
        inception_class_indices=_indices(FLAGS.inception_class_indices),
        damsm_weights=FLAGS.damsm_weights,
    )
    output = Path(FLAGS.output or work_dir / "results.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=1))
    print(scoring.format_results(results))
    print(f"\nwritten to {output}")


def score_caption_file():
    """--captions: the run's generator on the file's captions, judged by the oracle; the table
    is printed and written as JSON (default <run_dir>/evaluation/captions/<file>.json)."""
    config = run_files.load_run_config(FLAGS.run_dir, FLAGS.data_dir)
    if config.data.dataset != "synthetic_birds":
        raise SystemExit("--captions needs a synthetic birds run: only its oracle reads parts")
    path = HELDOUT_PHRASINGS if FLAGS.captions == "heldout" else Path(FLAGS.captions)
    if not path.is_file():
        raise SystemExit(f"--captions: {path} is not a file")
    captions, families = read_caption_file(path)
    model = TextToImage.from_run(FLAGS.run_dir, data_dir=FLAGS.data_dir,
                                 damsm_weights=FLAGS.damsm_weights)
    oracle_path = FLAGS.oracle or scoring.default_oracle_path(config)
    report = score_captions(model, scoring.attribute_oracle(oracle_path), captions, families,
                            num_samples=FLAGS.samples_per_caption, seed=FLAGS.seed)
    report["file"], report["oracle"] = str(path), oracle_path
    output = Path(FLAGS.output or Path(FLAGS.run_dir) / "evaluation" / "captions"
                  / f"{path.stem}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=1))
    print(format_caption_report(report))
    print(f"\nwritten to {output}")


def _indices(values):
    """["1-50"] or ["1", "2"] → [1, ..., 50] / [1, 2]; None stays None."""
    if values is None:
        return None
    indices = []
    for value in values:
        first, _, last = value.partition("-")
        indices += list(range(int(first), int(last or first) + 1))
    return indices


if __name__ == "__main__":
    app.run(main)
