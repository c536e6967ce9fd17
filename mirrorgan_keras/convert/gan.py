"""The reference generator ``G_NET`` and discriminators ``D_NET64/128/256`` → GLAMGenerator and
StageDiscriminator (docs/design.md §5, §6).

``G_NET`` (AttnGAN's ``bird_AttnGAN2.pth``, or a MirrorGAN ``netG_epoch_*.pth``):

- ``ca_net.fc`` → conditioning augmentation's dense layer;
- ``h_net1.fc.0`` (Linear, no bias) and ``h_net1.fc.1`` (BatchNorm1d) → F0's dense layer and
  batch norm. PyTorch views the GLU output as ``[ngf·16, 4, 4]`` (channel-major), this library
  as ``[4, 4, ngf·16]``: the Linear's output units, and the batch norm's entries, are permuted
  within each GLU half;
- ``h_net1.upsample1..4`` (nearest ×2, ``.1`` conv3×3, ``.2`` batch norm, GLU) → F0's
  up-blocks. This library folds the upsampling into the 3×3 kernel when it runs; the stored
  variable is the 3×3 kernel, so it is only transposed;
- ``h_net<i>`` (i ≥ 2): ``att.conv_context`` (1×1 conv, the word projection U) →
  WordAttention; MirrorGAN only: ``att.linear`` (Linear 100 → ngf, V), ``att.conv_sentence_vis``
  (1×1 conv) → SentenceAttention, and ``conv`` (1×1 conv 3ngf → 2ngf) → the fuse convolution;
  ``residual.<r>.block.{0,1,3,4}`` → ResBlock r (conv, BN, conv, BN); ``upsample.{1,2}`` →
  the stage's up-block;
- ``img_net<i>.img.0`` (conv3×3 → tanh) → image head i − 1.

Sizes come from the tensors: ngf, the CA and noise widths, the stage count (``h_net<i>``), the
residual blocks (``residual.<r>``) and the attention type: MirrorGAN's when most of its
sentence-attention keys are present, so that a renamed or missing one is reported as such. A
discriminator state dict (``img_code_s16`` keys) is refused as one.

``D_NET<S>``: ``img_code_s16.{0, 2/3, 5/6, 8/9}`` (conv / batch norm of the four stride-2
convolutions), then for 128 ``img_code_s32`` and ``img_code_s32_1``, for 256 ``img_code_s32``,
``img_code_s64``, ``img_code_s64_1``, ``img_code_s64_2`` (``.0`` conv, ``.1`` batch norm); the
logit heads ``UNCOND_DNET.outlogits.0`` and ``COND_DNET.jointConv.{0,1}`` +
``COND_DNET.outlogits.0``. The reference's sigmoid is not a layer here: this library's
discriminators return logits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from mirrorgan_keras.convert.state_dict import (
    CheckpointConversionError,
    TensorRule,
    assign_state,
    batch_norm_rules,
    conv_kernel,
    dense_kernel,
    require_shape,
    vector,
)
from mirrorgan_keras.layers import CascadeStage, InitialStage, StageDiscriminator, UpBlock
from mirrorgan_keras.models import GLAMGenerator

_STAGE = re.compile(r"^h_net(\d+)\.")
_RESIDUAL = re.compile(r"^h_net2\.residual\.(\d+)\.")
# The keys of each refinement stage ``h_net<i>`` that only MirrorGAN's generator has.
_SENTENCE_ATTENTION_KEYS = ("att.linear.weight", "att.linear.bias",
                            "att.conv_sentence_vis.weight", "conv.weight")
# (conv, batch norm) indices of the four stride-2 convolutions in ``img_code_s16``.
_ENCODE16 = ((0, None), (2, 3), (5, 6), (8, 9))
# The reference names of the trunk blocks after ``img_code_s16``, by image size.
_TRUNK_TAILS = {
    64: (),
    128: ("img_code_s32", "img_code_s32_1"),
    256: ("img_code_s32", "img_code_s64", "img_code_s64_1", "img_code_s64_2"),
}


def generator_module(generator: GLAMGenerator) -> str:
    """How errors name the reference module a GLAMGenerator stands for."""
    attention = "word + sentence" if generator.sentence_attention else "word"
    return (f"G_NET (ngf {generator.ngf}, {generator.stages} stages, {generator.res_blocks} "
            f"residual blocks, {attention} attention)")


def generator_sizes(state: Mapping[str, np.ndarray], source) -> tuple[dict, int]:
    """The ``GeneratorConfig`` fields a G_NET state implies, and its word/sentence width D.

    Returns ``({"ngf", "z_dim", "condition_dim", "stages", ["res_blocks",
    "sentence_attention"]}, D)``; the last two only with refinement stages.
    """
    module = "G_NET"
    if (size := _discriminator_size(state)) is not None:
        raise CheckpointConversionError(
            f"{source} does not match {module}: it looks like a D_NET{size} discriminator "
            "(img_code_s16 keys), not a generator: give it as a discriminator (--discriminators)"
        )
    stages = sorted({int(m.group(1)) for key in state if (m := _STAGE.match(key))})
    if stages != list(range(1, len(stages) + 1)):
        raise CheckpointConversionError(
            f"{source} does not match {module}: its stages are h_net{stages} (expected h_net1, "
            "h_net2, … in order)"
        )
    where = {"module": module, "source": source}
    units, width = require_shape(state, "ca_net.fc.weight", 2, **where,
                                 purpose="the condition size")
    _, joint = require_shape(state, "h_net1.fc.0.weight", 2, **where, purpose="the noise size")
    ngf = require_shape(state, "img_net1.img.0.weight", 4, **where, purpose="ngf")[1]
    sizes = {"ngf": ngf, "z_dim": joint - units // 4, "condition_dim": units // 4,
             "stages": len(stages)}
    if len(stages) > 1:
        sizes["res_blocks"] = len({m.group(1) for key in state if (m := _RESIDUAL.match(key))})
        sizes["sentence_attention"] = _has_sentence_attention(state, len(stages))
    return sizes, width


def _has_sentence_attention(state: Mapping[str, np.ndarray], stages: int) -> bool:
    """Whether most of MirrorGAN's sentence-attention keys of the refinement stages are in
    ``state`` (then a missing one is reported as missing, not the others as unknown)."""
    keys = [f"h_net{stage}.{key}" for stage in range(2, stages + 1)
            for key in _SENTENCE_ATTENTION_KEYS]
    return 2 * sum(key in state for key in keys) > len(keys)


def _nchw_order(stage: InitialStage) -> np.ndarray:
    """``order[k]``: the PyTorch unit of F0's dense output that is this library's unit ``k``.

    Both split the units into GLU halves; within a half, PyTorch's unit ``c·P + p`` is channel
    c at position p of the P = 4×4 map (NCHW), this library's unit ``p·C + c`` (NHWC).
    """
    half, channels = stage.projection.units // 2, stage.initial_channels
    positions = half // channels
    gate, unit = np.divmod(np.arange(2 * half), half)
    position, channel = np.divmod(unit, channels)
    return gate * half + channel * positions + position


def _up_block_rules(prefix: str, block: UpBlock) -> list[TensorRule]:
    return [conv_kernel(f"{prefix}.1.weight", block.conv.kernel),
            *batch_norm_rules(f"{prefix}.2", block.norm)]


def _initial_stage_rules(prefix: str, stage: InitialStage) -> list[TensorRule]:
    order = _nchw_order(stage)
    rules = [dense_kernel(f"{prefix}.fc.0.weight", stage.projection.kernel, columns=order),
             *batch_norm_rules(f"{prefix}.fc.1", stage.norm, order)]
    for index, block in enumerate(stage.up_blocks, start=1):
        rules += _up_block_rules(f"{prefix}.upsample{index}", block)
    return rules


def _refinement_rules(prefix: str, stage: CascadeStage) -> list[TensorRule]:
    attention = stage.attention
    rules = [dense_kernel(f"{prefix}.att.conv_context.weight",
                          attention.word_attention.word_projection.kernel, from_conv1x1=True)]
    if stage.sentence_attention:
        branch = attention.sentence_branch
        rules += [dense_kernel(f"{prefix}.att.linear.weight", branch.sentence_projection.kernel),
                  vector(f"{prefix}.att.linear.bias", branch.sentence_projection.bias),
                  conv_kernel(f"{prefix}.att.conv_sentence_vis.weight", branch.gate.kernel),
                  conv_kernel(f"{prefix}.conv.weight", attention.fuse.kernel)]
    for index, block in enumerate(stage.residuals):
        layers = f"{prefix}.residual.{index}.block"
        rules += [conv_kernel(f"{layers}.0.weight", block.conv1.kernel),
                  *batch_norm_rules(f"{layers}.1", block.norm1),
                  conv_kernel(f"{layers}.3.weight", block.conv2.kernel),
                  *batch_norm_rules(f"{layers}.4", block.norm2)]
    return rules + _up_block_rules(f"{prefix}.upsample", stage.up_block)


def generator_rules(generator: GLAMGenerator) -> list[TensorRule]:
    """The rules that fill a built GLAMGenerator (base size 64) from a G_NET state dict."""
    projection = generator.conditioning.projection
    rules = [dense_kernel("ca_net.fc.weight", projection.kernel),
             vector("ca_net.fc.bias", projection.bias),
             *_initial_stage_rules("h_net1", generator.initial_stage)]
    for index, stage in enumerate(generator.refinement_stages, start=2):
        rules += _refinement_rules(f"h_net{index}", stage)
    for index, head in enumerate(generator.image_heads, start=1):
        rules.append(conv_kernel(f"img_net{index}.img.0.weight", head.conv.kernel))
    return rules


def convert_generator(state: Mapping[str, np.ndarray], generator: GLAMGenerator,
                      source) -> None:
    """Fills a built GLAMGenerator from a G_NET state dict; raises CheckpointConversionError
    naming any key that does not fit."""
    assign_state(state, generator_rules(generator), generator_module(generator), source)


def discriminator_sizes(state: Mapping[str, np.ndarray], source) -> tuple[int, int]:
    """``(image size, ndf)`` of a D_NET64/128/256 state dict, from its keys and first conv."""
    size = _discriminator_size(state) or 64
    ndf = require_shape(state, "img_code_s16.0.weight", 4, module=f"D_NET{size}",
                        source=source, purpose="ndf")[0]
    return size, ndf


def _discriminator_size(state: Mapping[str, np.ndarray]) -> int | None:
    """The image size of a D_NET state dict, from its trunk keys; None without ``img_code_s16``
    keys (not a discriminator)."""
    if not any(key.startswith("img_code_s16.") for key in state):
        return None
    return (256 if any(key.startswith("img_code_s64.") for key in state)
            else 128 if any(key.startswith("img_code_s32.") for key in state) else 64)


def _trunk_names(size: int) -> list[tuple[str, str | None]]:
    """(conv key prefix, batch-norm key prefix) of each trunk block of D_NET<size>."""
    if size not in _TRUNK_TAILS:
        raise ValueError(f"the reference has no discriminator for {size}² images "
                         f"(D_NET{'/'.join(map(str, _TRUNK_TAILS))})")
    names = [(f"img_code_s16.{conv}", None if norm is None else f"img_code_s16.{norm}")
             for conv, norm in _ENCODE16]
    return names + [(f"{tail}.0", f"{tail}.1") for tail in _TRUNK_TAILS[size]]


def _logit_rules(prefix: str, conv) -> list[TensorRule]:
    return [conv_kernel(f"{prefix}.weight", conv.kernel), vector(f"{prefix}.bias", conv.bias)]


def discriminator_rules(discriminator: StageDiscriminator) -> list[TensorRule]:
    """The rules that fill a built StageDiscriminator (64², 128² or 256²) from a D_NET state."""
    rules = []
    blocks = discriminator.trunk.layers
    for block, (conv, norm) in zip(blocks, _trunk_names(discriminator.image_size), strict=True):
        rules.append(conv_kernel(f"{conv}.weight", block.steps[0].kernel))
        if norm is not None:
            rules += batch_norm_rules(norm, block.steps[1])
    joint = discriminator.conditional_head.joint
    return rules + [
        *_logit_rules("UNCOND_DNET.outlogits.0", discriminator.unconditional_head.logit),
        conv_kernel("COND_DNET.jointConv.0.weight", joint.steps[0].kernel),
        *batch_norm_rules("COND_DNET.jointConv.1", joint.steps[1]),
        *_logit_rules("COND_DNET.outlogits.0", discriminator.conditional_head.logit),
    ]


def convert_discriminator(state: Mapping[str, np.ndarray], discriminator: StageDiscriminator,
                          source) -> None:
    """Fills a built StageDiscriminator from a D_NET64/128/256 state dict; raises
    CheckpointConversionError naming any key that does not fit."""
    module = f"D_NET{discriminator.image_size} (ndf {discriminator.ndf})"
    assign_state(state, discriminator_rules(discriminator), module, source)
