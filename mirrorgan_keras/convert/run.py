"""Reference checkpoints → a run directory that the recipes accept as is.

What a converted run holds (the names of :class:`~mirrorgan_keras.runtime.run_files.RunFiles`):

```
config.json                the preset ("cub" or "coco") with the sizes read from the tensors,
                           damsm.backbone = "inception_v3_torch", damsm.weights = None
vocabulary.txt             the vocabulary of captions.pickle (+ "<unk>"), for export
damsm.weights.h5           STEM + region image encoder   (--text_encoder and --image_encoder)
generator_ema.weights.h5   the generator                 (--generator)
initial_gan/ckpt-000000000 generator + discriminators the GAN stage starts from
                           (--generator and one --discriminator per stage)
```

Every tensor is converted in memory before anything is written, so a checkpoint that does not
fit leaves the run directory untouched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

from mirrorgan_keras.config import MirrorGANConfig, get_preset, override
from mirrorgan_keras.convert.encoders import (
    TEXT_MODULE,
    TORCH_BACKBONE,
    convert_image_encoder,
    convert_text_encoder,
    image_encoder_width,
    text_encoder_sizes,
)
from mirrorgan_keras.convert.gan import (
    convert_discriminator,
    convert_generator,
    discriminator_sizes,
    generator_sizes,
)
from mirrorgan_keras.convert.state_dict import CheckpointConversionError, load_state_dict
from mirrorgan_keras.data.vocabulary import Vocabulary, read_captions_pickle
from mirrorgan_keras.models import DAMSM, GLAMGenerator, save_initial_state, stage_discriminators
from mirrorgan_keras.runtime.run_files import RunFiles, save_weights, write_run_config


@dataclasses.dataclass(frozen=True)
class ReferenceCheckpoints:
    """The reference files of one model (PyTorch state dicts and the data set's vocabulary).

    ``captions``: the data set's ``captions.pickle`` (its vocabulary indexes the text encoder);
    ``text_encoder`` / ``image_encoder``: AttnGAN's DAMSM ``text_encoder*.pth`` /
    ``image_encoder*.pth`` (both or neither); ``generator``: a ``G_NET`` state dict;
    ``discriminators``: ``netD0.pth``, ``netD1.pth``, … (one per stage, smallest first; they
    need ``generator``).
    """

    captions: Path
    text_encoder: Path | None = None
    image_encoder: Path | None = None
    generator: Path | None = None
    discriminators: tuple[Path, ...] = ()

    def __post_init__(self):
        if (self.text_encoder is None) != (self.image_encoder is None):
            raise ValueError("give the DAMSM text and image encoders together: "
                             "damsm.weights.h5 holds both")
        if self.discriminators and self.generator is None:
            raise ValueError("discriminators need their generator (the GAN's initial state "
                             "holds both)")
        if self.text_encoder is None and self.generator is None:
            raise ValueError("nothing to convert: give the DAMSM encoders, a generator, or both")


def converted_config(states: Mapping[str, object], vocabulary: Vocabulary, preset: str,
                     data_dir: str | None = None) -> MirrorGANConfig:
    """``preset`` with the sizes the state dicts imply (``states``: ``text_encoder``,
    ``image_encoder``, ``generator``, ``discriminators`` → (source, state) or a list of them).

    Raises CheckpointConversionError when the checkpoints disagree with each other or with
    the vocabulary.
    """
    values, widths = {}, {}
    if "text_encoder" in states:
        source, state = states["text_encoder"]
        sizes = text_encoder_sizes(state, source)
        if sizes["words"] != vocabulary.size - 1:
            raise CheckpointConversionError(
                f"{source} does not match {TEXT_MODULE} for this vocabulary: key "
                f"'encoder.weight' has {sizes['words']} rows, captions.pickle has "
                f"{vocabulary.size - 1} word ids (expected shape ({vocabulary.size - 1}, "
                f"{sizes['word_embedding_dim']})): another data set's encoder?"
            )
        values["text.word_embedding_dim"] = sizes["word_embedding_dim"]
        widths[source] = sizes["embedding_dim"]
        image_source, image_state = states["image_encoder"]
        widths[image_source] = image_encoder_width(image_state, image_source)
        values.update({"damsm.backbone": TORCH_BACKBONE, "damsm.weights": None})
    if "generator" in states:
        source, state = states["generator"]
        sizes, widths[source] = generator_sizes(state, source)
        values.update({f"generator.{key}": value for key, value in sizes.items()})
        values["generator.base_size"] = 64
    values.update(_discriminator_values(states.get("discriminators", ()),
                                        values.get("generator.stages")))
    if len(set(widths.values())) > 1:
        raise CheckpointConversionError(
            "the checkpoints disagree on the text embedding width: "
            + ", ".join(f"{source}: {width}" for source, width in widths.items())
        )
    if widths:
        values["text.embedding_dim"] = next(iter(widths.values()))
    if data_dir is not None:
        values["data.data_dir"] = data_dir
    return override(get_preset(preset), values)


def _discriminator_values(discriminators: Sequence, stages: int | None) -> dict:
    """``{"discriminator.ndf": …}`` from one D_NET per stage, smallest first."""
    if not discriminators:
        return {}
    found = [(source, *discriminator_sizes(state, source)) for source, state in discriminators]
    expected = [64 * 2**i for i in range(stages)]
    if [size for _, size, _ in found] != expected:
        raise CheckpointConversionError(
            f"the generator has {stages} stages, so expected D_NET{expected} in that order; "
            "got " + ", ".join(f"{source}: D_NET{size}" for source, size, _ in found)
        )
    widths = {ndf for _, _, ndf in found}
    if len(widths) > 1:
        raise CheckpointConversionError(
            "the discriminators disagree on ndf: "
            + ", ".join(f"{source}: {ndf}" for source, _, ndf in found)
        )
    return {"discriminator.ndf": widths.pop()}


def convert_reference_run(checkpoints: ReferenceCheckpoints, run_dir: str | Path,
                          preset: str = "cub", data_dir: str | None = None) -> dict:
    """Converts ``checkpoints`` and writes the run directory (module docstring).

    ``preset``: "cub" (birds) or "coco", the data set the checkpoints were trained on; sizes
    come from the tensors. ``data_dir``: where the data set is (default: the preset's). Returns
    a summary: the files written and the converted configuration's sizes.
    """
    vocabulary = read_captions_pickle(str(checkpoints.captions)).vocabulary
    states = _load_states(checkpoints)
    config = converted_config(states, vocabulary, preset, data_dir)
    files = RunFiles(run_dir)
    writers = []
    if "text_encoder" in states:
        damsm = DAMSM.from_mirrorgan_config(config, vocabulary.size)
        convert_text_encoder(states["text_encoder"][1], damsm.text_encoder,
                             states["text_encoder"][0])
        convert_image_encoder(states["image_encoder"][1], damsm.image_encoder,
                              states["image_encoder"][0])
        writers.append((files.damsm, lambda path: save_weights(damsm, path)))
    if "generator" in states:
        generator = GLAMGenerator.from_mirrorgan_config(config)
        convert_generator(states["generator"][1], generator, states["generator"][0])
        writers.append((files.generator, lambda path: save_weights(generator, path)))
    if "discriminators" in states:
        discriminators = stage_discriminators(config)
        for (source, state), discriminator in zip(states["discriminators"], discriminators,
                                                  strict=True):
            convert_discriminator(state, discriminator, source)
        writers.append((files.initial_gan, lambda path: save_initial_state(
            path, generator, discriminators, config)))
    write_run_config(files, config, vocabulary.size)
    vocabulary.save(str(files.vocabulary))
    for path, write in writers:
        write(path)
    return {"run_dir": str(files.root), "preset": preset,
            "files": [str(p) for p in (files.config, files.vocabulary, *(p for p, _ in writers))],
            "vocab_size": vocabulary.size, "text": dataclasses.asdict(config.text),
            "generator": dataclasses.asdict(config.generator),
            "discriminator": dataclasses.asdict(config.discriminator)}


def _load_states(checkpoints: ReferenceCheckpoints) -> dict:
    """``{"text_encoder": (path, state), …, "discriminators": [(path, state), …]}``."""
    states = {}
    for name in ("text_encoder", "image_encoder", "generator"):
        path = getattr(checkpoints, name)
        if path is not None:
            states[name] = (str(path), load_state_dict(path))
    if checkpoints.discriminators:
        states["discriminators"] = [(str(p), load_state_dict(p))
                                    for p in checkpoints.discriminators]
    return states
