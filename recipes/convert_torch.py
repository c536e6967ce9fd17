"""Converts the reference PyTorch checkpoints (AttnGAN, MirrorGAN) into a run directory.

    python recipes/convert_torch.py --preset cub --captions data/birds/captions.pickle \\
        --text_encoder DAMSMencoders/bird/text_encoder200.pth \\
        --image_encoder DAMSMencoders/bird/image_encoder200.pth \\
        --generator models/bird_AttnGAN2.pth --run_dir runs/attngan_birds
    python recipes/export.py --run_dir runs/attngan_birds

Writes config.json (the preset with the sizes read from the tensors), vocabulary.txt,
damsm.weights.h5 (STEM + the "inception_v3_torch" image encoder), generator_ema.weights.h5
and, with --discriminators, initial_gan/ (generator + discriminators the GAN stage starts
from). A checkpoint that does not fit stops with an error naming the key, the expected shape
and the module. Needs torch: pip install -e '.[torch]'. See docs/conversion.md.
"""

import mirrorgan_keras.runtime.quiet_tensorflow  # noqa: F401  (first: before TensorFlow loads)

# isort: split

import json

from absl import app, flags

from mirrorgan_keras.config import PRESETS
from mirrorgan_keras.convert import (
    CheckpointConversionError,
    ReferenceCheckpoints,
    convert_reference_run,
)

flags.DEFINE_string("captions", None, "The data set's captions.pickle (AttnGAN's metadata): "
                    "the vocabulary the text encoder was trained with.", required=True)
flags.DEFINE_string("run_dir", None, "Run directory to write.", required=True)
flags.DEFINE_string("text_encoder", None, "DAMSM text encoder (RNN_ENCODER), e.g. "
                    "text_encoder200.pth; needs --image_encoder.")
flags.DEFINE_string("image_encoder", None, "DAMSM image encoder (CNN_ENCODER), e.g. "
                    "image_encoder200.pth; needs --text_encoder.")
flags.DEFINE_string("generator", None, "Generator G_NET, e.g. bird_AttnGAN2.pth or a "
                    "MirrorGAN netG_epoch_*.pth.")
flags.DEFINE_list("discriminators", [], "D_NET64,D_NET128,D_NET256 state dicts (netD0.pth,"
                  "netD1.pth,netD2.pth), one per stage, to continue training; needs --generator.")
flags.DEFINE_enum("preset", "cub", sorted(set(PRESETS) - {"birds_tiny"}),
                  "Data set of the checkpoints: cub (birds) or coco.")
flags.DEFINE_string("data_dir", None, "Where the data set is, recorded in config.json "
                    "(default: the preset's).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    try:
        checkpoints = ReferenceCheckpoints(
            captions=FLAGS.captions, text_encoder=FLAGS.text_encoder,
            image_encoder=FLAGS.image_encoder, generator=FLAGS.generator,
            discriminators=tuple(FLAGS.discriminators),
        )
    except ValueError as error:  # flags that do not go together: the reason, not the help
        raise SystemExit(f"convert_torch.py: {error}") from None
    try:
        summary = convert_reference_run(checkpoints, FLAGS.run_dir, FLAGS.preset,
                                        FLAGS.data_dir)
    except CheckpointConversionError as error:
        raise SystemExit(f"convert_torch.py: {error}") from None
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    app.run(main)
