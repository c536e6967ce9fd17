"""AttnGAN's DAMSM encoders → STEM and the region image encoder (docs/design.md §3, §4).

``RNN_ENCODER`` (``text_encoder*.pth``): ``encoder.weight`` (the word embedding) and a
one-layer bidirectional ``nn.LSTM`` ``rnn.{weight_ih, weight_hh, bias_ih, bias_hh}_l0`` and
their ``_reverse`` twins. PyTorch stacks the gates as (input, forget, cell, output), which is
Keras's order too, so the weights are only transposed; PyTorch adds two biases, Keras has one:
their sum. The reference vocabulary has no ``"<unk>"`` id, this library's has one more, last
(:mod:`mirrorgan_keras.data.vocabulary`): its embedding row is set to zero. No reference caption
holds it, and the exported tokenizer drops unknown words, so it is never read.

``CNN_ENCODER`` (``image_encoder*.pth``): torchvision's Inception-v3 modules under their own
names (``Conv2d_1a_3x3`` … ``Mixed_7c``), ``emb_features`` (1×1 conv 768 → D, no bias) and
``emb_cnn_code`` (Linear 2048 → D). They fill a :class:`RegionImageEncoder` with the
``"inception_v3_torch"`` backbone, whose layers carry the same names.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mirrorgan_keras.convert.state_dict import (
    TensorRule,
    assign_state,
    batch_norm_rules,
    conv_kernel,
    dense_kernel,
    require_shape,
    vector,
)
from mirrorgan_keras.layers import RegionImageEncoder, SemanticTextEncoder

TEXT_MODULE = "RNN_ENCODER (DAMSM text encoder)"
IMAGE_MODULE = "CNN_ENCODER (DAMSM image encoder)"
TORCH_BACKBONE = "inception_v3_torch"


def text_encoder_sizes(state: Mapping[str, np.ndarray], source) -> dict:
    """``{"words": n, "word_embedding_dim": E, "embedding_dim": 2H}`` of an RNN_ENCODER state:
    n reference word ids (with ``"<end>"``), embedding width, both directions' hidden width."""
    where = {"module": TEXT_MODULE, "source": source}
    words, width = require_shape(state, "encoder.weight", 2, **where,
                                 purpose="the vocabulary and embedding sizes")
    _, hidden = require_shape(state, "rnn.weight_hh_l0", 2, **where, purpose="the LSTM width")
    return {"words": words, "word_embedding_dim": width, "embedding_dim": 2 * hidden}


def _with_unknown_word_row(weight: np.ndarray) -> np.ndarray:
    return np.concatenate([weight, np.zeros((1, weight.shape[1]), weight.dtype)])


def text_encoder_rules(encoder: SemanticTextEncoder) -> list[TensorRule]:
    """The rules that fill a built STEM from an RNN_ENCODER state dict."""
    embedding = encoder.embedding.embeddings
    vocab, width = embedding.shape
    rules = [TensorRule(("encoder.weight",), ((vocab - 1, width),), embedding,
                        _with_unknown_word_row)]
    directions = (("", encoder.rnn.forward_layer), ("_reverse", encoder.rnn.backward_layer))
    for suffix, layer in directions:
        cell = layer.cell
        rules += [
            dense_kernel(f"rnn.weight_ih_l0{suffix}", cell.kernel),
            dense_kernel(f"rnn.weight_hh_l0{suffix}", cell.recurrent_kernel),
            TensorRule((f"rnn.bias_ih_l0{suffix}", f"rnn.bias_hh_l0{suffix}"),
                       (tuple(cell.bias.shape),) * 2, cell.bias, np.add),
        ]
    return rules


def convert_text_encoder(state: Mapping[str, np.ndarray], encoder: SemanticTextEncoder,
                         source) -> None:
    """Fills a built STEM (vocabulary = the reference's + ``"<unk>"``) from an RNN_ENCODER
    state dict; raises CheckpointConversionError naming any key that does not fit."""
    assign_state(state, text_encoder_rules(encoder), TEXT_MODULE, source)


def image_encoder_rules(encoder: RegionImageEncoder) -> list[TensorRule]:
    """The rules that fill a built ``"inception_v3_torch"`` RegionImageEncoder from a
    CNN_ENCODER state dict: one per torchvision tensor, by layer name, and the projections."""
    if encoder.backbone_name != TORCH_BACKBONE:
        raise ValueError(f"CNN_ENCODER weights need backbone={TORCH_BACKBONE!r} (torchvision's "
                         f"Inception-v3), not {encoder.backbone_name!r}")
    return inception_unit_rules(encoder.backbone) + [
        conv_kernel("emb_features.weight", encoder.region_projection.kernel),
        dense_kernel("emb_cnn_code.weight", encoder.code_projection.kernel),
        vector("emb_cnn_code.bias", encoder.code_projection.bias),
    ]


def inception_unit_rules(model) -> list[TensorRule]:
    """One rule per tensor of every torchvision ``BasicConv2d`` of ``model``, a Keras Inception
    whose layers carry torchvision's module paths (``….conv`` kernels, ``….bn`` batch norms)."""
    rules = []
    for layer in model.layers:
        if layer.name.endswith(".conv"):
            rules.append(conv_kernel(f"{layer.name}.weight", layer.kernel))
        elif layer.name.endswith(".bn"):
            rules += batch_norm_rules(layer.name, layer)
    return rules


def image_encoder_width(state: Mapping[str, np.ndarray], source) -> int:
    """D, the embedding width of a CNN_ENCODER state (``emb_cnn_code`` is ``[D, 2048]``)."""
    return require_shape(state, "emb_cnn_code.weight", 2, module=IMAGE_MODULE, source=source,
                         purpose="the embedding width")[0]


def convert_image_encoder(state: Mapping[str, np.ndarray], encoder: RegionImageEncoder,
                          source) -> None:
    """Fills a built ``"inception_v3_torch"`` RegionImageEncoder from a CNN_ENCODER state
    dict; raises CheckpointConversionError naming any key that does not fit."""
    assign_state(state, image_encoder_rules(encoder), IMAGE_MODULE, source)
