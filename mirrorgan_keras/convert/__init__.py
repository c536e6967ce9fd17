"""Converting the reference PyTorch checkpoints (AttnGAN's, MirrorGAN's) into this library.

``convert_reference_run`` reads AttnGAN's DAMSM encoders (``text_encoder*.pth``,
``image_encoder*.pth``), a ``G_NET`` generator and ``D_NET64/128/256`` discriminators, and
writes a run directory that ``recipes/export.py``, ``generate.py``, ``evaluate.py`` and the
training recipes accept (:mod:`mirrorgan_keras.convert.run`); ``recipes/convert_torch.py`` is
its command line. The per-module mappings (:mod:`.encoders`, :mod:`.gan`) fill built Keras
layers from a state dict and refuse one that does not fit: an unknown key, a missing key or a
shape mismatch raises :class:`CheckpointConversionError` naming the key, the expected shape and
the reference module. Nothing is dropped or left at its initial value.

:mod:`.slim_inception` reads a TF1 checkpoint of slim's Inception-v3 (StackGAN's birds
Inception, the CUB Inception Score's classifier) with ``tf.train.load_checkpoint``.

PyTorch is an optional dependency (``pip install -e '.[torch]'``), imported only when a file is
read (:func:`load_state_dict`). docs/conversion.md has the whole procedure.

Example::

    from mirrorgan_keras.convert import ReferenceCheckpoints, convert_reference_run

    convert_reference_run(ReferenceCheckpoints(
        captions="data/birds/captions.pickle",
        text_encoder="DAMSMencoders/bird/text_encoder200.pth",
        image_encoder="DAMSMencoders/bird/image_encoder200.pth",
        generator="models/bird_AttnGAN2.pth"), "runs/attngan_birds", preset="cub")
"""

from mirrorgan_keras.convert.encoders import convert_image_encoder, convert_text_encoder
from mirrorgan_keras.convert.gan import convert_discriminator, convert_generator
from mirrorgan_keras.convert.run import (
    ReferenceCheckpoints,
    convert_reference_run,
    converted_config,
)
from mirrorgan_keras.convert.slim_inception import (
    load_slim_inception_checkpoint,
    save_slim_inception_weights,
    slim_variables,
)
from mirrorgan_keras.convert.state_dict import CheckpointConversionError, load_state_dict

__all__ = [
    "CheckpointConversionError",
    "ReferenceCheckpoints",
    "convert_discriminator",
    "convert_generator",
    "convert_image_encoder",
    "convert_reference_run",
    "convert_text_encoder",
    "converted_config",
    "load_slim_inception_checkpoint",
    "load_state_dict",
    "save_slim_inception_weights",
    "slim_variables",
]
