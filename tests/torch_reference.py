"""Independent PyTorch forward passes of the reference modules, for the conversion tests.

Written here from the formulas (docs/design.md §3–§6 and torchvision's Inception-v3 layer
list), NCHW as in PyTorch, not imported from the reference code nor from this library. The
parameters live in a :class:`RandomState`, a state dict under the reference key names that
creates each tensor (random, non-trivial batch-norm statistics) the first time a forward pass
asks for it: running a pass once defines the checkpoint, and running it again computes with it.

Word attention masks each sample by its own caption (this library's semantics; the reference's
``mask.repeat`` agrees at batch size 1 or without padding, which is how the tests call it).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

BN_EPS = 1e-5
INCEPTION_BN_EPS = 1e-3


class RandomState(dict):
    """A state dict that creates missing tensors on first use (seeded, deterministic)."""

    def __init__(self, seed: int = 0):
        super().__init__()
        self.generator = torch.Generator().manual_seed(seed)

    def _random(self, shape, scale, offset=0.0):
        return torch.randn(*shape, generator=self.generator) * scale + offset

    def weight(self, key: str, *shape: int) -> torch.Tensor:
        """A conv / linear weight ``[out, in, ...]``, N(0, 1/fan-in)."""
        if key not in self:
            fan_in = math.prod(shape[1:])
            self[key] = self._random(shape, 1.0 / math.sqrt(fan_in))
        return self[key]

    def bias(self, key: str, size: int) -> torch.Tensor:
        if key not in self:
            self[key] = self._random((size,), 0.1)
        return self[key]

    def batch_norm(self, prefix: str, channels: int):
        """(weight, bias, running_mean, running_var) of ``prefix``, plus its step counter."""
        if f"{prefix}.weight" not in self:
            self[f"{prefix}.weight"] = self._random((channels,), 0.2, 1.0)
            self[f"{prefix}.bias"] = self._random((channels,), 0.1)
            self[f"{prefix}.running_mean"] = self._random((channels,), 0.1)
            self[f"{prefix}.running_var"] = torch.rand(channels, generator=self.generator) + 0.5
            self[f"{prefix}.num_batches_tracked"] = torch.tensor(7)
        return tuple(self[f"{prefix}.{n}"] for n in ("weight", "bias", "running_mean",
                                                       "running_var"))

    def without_counters(self) -> dict:
        """The state dict without batch-norm step counters (PyTorch < 0.4.1 checkpoints)."""
        return {k: v for k, v in self.items() if not k.endswith("num_batches_tracked")}


def norm(state, prefix, x, eps=BN_EPS):
    weight, bias, mean, var = state.batch_norm(prefix, x.shape[1])
    return F.batch_norm(x, mean, var, weight, bias, training=False, eps=eps)


def glu(x):
    half = x.shape[1] // 2
    return x[:, :half] * torch.sigmoid(x[:, half:])


def conv(state, key, x, out_channels, kernel, stride=1, padding=0):
    kernel_h, kernel_w = (kernel, kernel) if isinstance(kernel, int) else kernel
    weight = state.weight(key, out_channels, x.shape[1], kernel_h, kernel_w)
    return F.conv2d(x, weight, stride=stride, padding=padding)


# ---------------------------------------------------------------- Inception-v3 (torchvision)

def unit(state, path, x, out_channels, kernel, stride=1, padding=0):
    """BasicConv2d: conv (no bias) → batch norm (eps 1e-3) → ReLU."""
    hidden = conv(state, f"{path}.conv.weight", x, out_channels, kernel, stride, padding)
    return F.relu(norm(state, f"{path}.bn", hidden, INCEPTION_BN_EPS))


def pool3(x):
    """3×3 stride-1 average pool, zero padding 1 counted in the mean."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=True)


def mixed_a(state, p, x, pool_features):
    one = unit(state, f"{p}.branch1x1", x, 64, 1)
    five = unit(state, f"{p}.branch5x5_2", unit(state, f"{p}.branch5x5_1", x, 48, 1), 64, 5,
                padding=2)
    three = unit(state, f"{p}.branch3x3dbl_1", x, 64, 1)
    three = unit(state, f"{p}.branch3x3dbl_2", three, 96, 3, padding=1)
    three = unit(state, f"{p}.branch3x3dbl_3", three, 96, 3, padding=1)
    pooled = unit(state, f"{p}.branch_pool", pool3(x), pool_features, 1)
    return torch.cat([one, five, three, pooled], 1)


def mixed_b(state, p, x):
    three = unit(state, f"{p}.branch3x3", x, 384, 3, stride=2)
    double = unit(state, f"{p}.branch3x3dbl_1", x, 64, 1)
    double = unit(state, f"{p}.branch3x3dbl_2", double, 96, 3, padding=1)
    double = unit(state, f"{p}.branch3x3dbl_3", double, 96, 3, stride=2)
    return torch.cat([three, double, F.max_pool2d(x, 3, stride=2)], 1)


def mixed_c(state, p, x, c7):
    one = unit(state, f"{p}.branch1x1", x, 192, 1)
    seven = unit(state, f"{p}.branch7x7_1", x, c7, 1)
    seven = unit(state, f"{p}.branch7x7_2", seven, c7, (1, 7), padding=(0, 3))
    seven = unit(state, f"{p}.branch7x7_3", seven, 192, (7, 1), padding=(3, 0))
    double = unit(state, f"{p}.branch7x7dbl_1", x, c7, 1)
    for index, (kernel, pad) in enumerate(
        [((7, 1), (3, 0)), ((1, 7), (0, 3)), ((7, 1), (3, 0)), ((1, 7), (0, 3))], start=2
    ):
        width = 192 if index == 5 else c7
        double = unit(state, f"{p}.branch7x7dbl_{index}", double, width, kernel, padding=pad)
    pooled = unit(state, f"{p}.branch_pool", pool3(x), 192, 1)
    return torch.cat([one, seven, double, pooled], 1)


def mixed_d(state, p, x):
    three = unit(state, f"{p}.branch3x3_1", x, 192, 1)
    three = unit(state, f"{p}.branch3x3_2", three, 320, 3, stride=2)
    seven = unit(state, f"{p}.branch7x7x3_1", x, 192, 1)
    seven = unit(state, f"{p}.branch7x7x3_2", seven, 192, (1, 7), padding=(0, 3))
    seven = unit(state, f"{p}.branch7x7x3_3", seven, 192, (7, 1), padding=(3, 0))
    seven = unit(state, f"{p}.branch7x7x3_4", seven, 192, 3, stride=2)
    return torch.cat([three, seven, F.max_pool2d(x, 3, stride=2)], 1)


def mixed_e(state, p, x):
    one = unit(state, f"{p}.branch1x1", x, 320, 1)
    three = unit(state, f"{p}.branch3x3_1", x, 384, 1)
    three = torch.cat([unit(state, f"{p}.branch3x3_2a", three, 384, (1, 3), padding=(0, 1)),
                       unit(state, f"{p}.branch3x3_2b", three, 384, (3, 1), padding=(1, 0))], 1)
    double = unit(state, f"{p}.branch3x3dbl_1", x, 448, 1)
    double = unit(state, f"{p}.branch3x3dbl_2", double, 384, 3, padding=1)
    double = torch.cat([
        unit(state, f"{p}.branch3x3dbl_3a", double, 384, (1, 3), padding=(0, 1)),
        unit(state, f"{p}.branch3x3dbl_3b", double, 384, (3, 1), padding=(1, 0)),
    ], 1)
    pooled = unit(state, f"{p}.branch_pool", pool3(x), 192, 1)
    return torch.cat([one, three, double, pooled], 1)


def inception_trunk(state, x):
    """Images NCHW → (Mixed_6e, Mixed_7c) of torchvision's Inception-v3 (no transform_input)."""
    x = unit(state, "Conv2d_1a_3x3", x, 32, 3, stride=2)
    x = unit(state, "Conv2d_2a_3x3", x, 32, 3)
    x = F.max_pool2d(unit(state, "Conv2d_2b_3x3", x, 64, 3, padding=1), 3, stride=2)
    x = unit(state, "Conv2d_3b_1x1", x, 80, 1)
    x = F.max_pool2d(unit(state, "Conv2d_4a_3x3", x, 192, 3), 3, stride=2)
    x = mixed_a(state, "Mixed_5b", x, 32)
    x = mixed_a(state, "Mixed_5c", x, 64)
    x = mixed_a(state, "Mixed_5d", x, 64)
    x = mixed_b(state, "Mixed_6a", x)
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        x = mixed_c(state, name, x, c7)
    regions = x
    x = mixed_e(state, "Mixed_7c", mixed_e(state, "Mixed_7b", mixed_d(state, "Mixed_7a", x)))
    return regions, x


def cnn_encoder(state, images, nef):
    """AttnGAN's CNN_ENCODER on images already at the trunk's size: (regions NCHW, code)."""
    regions, top = inception_trunk(state, images)
    regions = conv(state, "emb_features.weight", regions, nef, 1)
    pooled = top.mean(dim=(2, 3))
    code = F.linear(pooled, state.weight("emb_cnn_code.weight", nef, 2048),
                    state.bias("emb_cnn_code.bias", nef))
    return regions, code


# ---------------------------------------------------------------------- DAMSM text encoder

class TextEncoder(torch.nn.Module):
    """RNN_ENCODER's parameters (``encoder``, ``rnn``) and its packed bi-LSTM forward pass."""

    def __init__(self, words: int, width: int, hidden: int):
        super().__init__()
        self.encoder = torch.nn.Embedding(words, width)
        self.rnn = torch.nn.LSTM(width, hidden, 1, batch_first=True, bidirectional=True)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.uniform_(-0.5, 0.5)  # both LSTM biases non-zero

    def forward(self, captions, lengths):
        """captions [B, T] (0-padded), lengths [B] → words [B, 2H, T], sentence [B, 2H]."""
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            self.encoder(captions), lengths, batch_first=True, enforce_sorted=False
        )
        output, (hidden, _) = self.rnn(packed)
        words = torch.nn.utils.rnn.pad_packed_sequence(
            output, batch_first=True, total_length=captions.shape[1]
        )[0]
        return words.transpose(1, 2), hidden.transpose(0, 1).reshape(captions.shape[0], -1)


# ------------------------------------------------------------------------------- G_NET

def ca_net(state, sentence, eps, condition_dim):
    hidden = glu(F.linear(sentence, state.weight("ca_net.fc.weight", 4 * condition_dim,
                                                 sentence.shape[1]),
                          state.bias("ca_net.fc.bias", 4 * condition_dim)))
    mu, logvar = hidden[:, :condition_dim], hidden[:, condition_dim:]
    return mu + torch.exp(0.5 * logvar) * eps, mu, logvar


def up_block(state, prefix, x, out_channels):
    x = F.interpolate(x, scale_factor=2, mode="nearest")
    x = conv(state, f"{prefix}.1.weight", x, 2 * out_channels, 3, padding=1)
    return glu(norm(state, f"{prefix}.2", x))


def initial_stage(state, c, z, ngf):
    """INIT_STAGE_G with width 16·ngf: [c, z] → [B, ngf, 64, 64]."""
    width = 16 * ngf
    joint = torch.cat([c, z], 1)
    hidden = F.linear(joint, state.weight("h_net1.fc.0.weight", width * 32, joint.shape[1]))
    weight, bias, mean, var = state.batch_norm("h_net1.fc.1", width * 32)
    hidden = glu(F.batch_norm(hidden, mean, var, weight, bias, training=False, eps=BN_EPS))
    hidden = hidden.view(-1, width, 4, 4)
    for index in range(1, 5):
        hidden = up_block(state, f"h_net1.upsample{index}", hidden, width // 2**index)
    return hidden


def res_block(state, prefix, x):
    channels = x.shape[1]
    hidden = glu(norm(state, f"{prefix}.1", conv(state, f"{prefix}.0.weight", x, 2 * channels,
                                                 3, padding=1)))
    return x + norm(state, f"{prefix}.4", conv(state, f"{prefix}.3.weight", hidden, channels,
                                               3, padding=1))


def word_attention(state, prefix, h, words, mask):
    """h [B, C, H, W], words [B, D, T], mask [B, T] (True = padding) → context, attention."""
    batch, channels, height, width = h.shape
    keys = conv(state, f"{prefix}.conv_context.weight", words.unsqueeze(3), channels,
                1).squeeze(3)  # [B, C, T]
    scores = torch.bmm(h.view(batch, channels, -1).transpose(1, 2), keys)  # [B, HW, T]
    scores = scores.masked_fill(mask.unsqueeze(1), float("-inf"))
    weights = torch.softmax(scores, dim=2)
    context = torch.bmm(keys, weights.transpose(1, 2)).view(batch, channels, height, width)
    return context, weights.transpose(1, 2).reshape(batch, -1, height, width)


def sentence_attention(state, prefix, h, c):
    channels = h.shape[1]
    projected = F.linear(c, state.weight(f"{prefix}.linear.weight", channels, c.shape[1]),
                         state.bias(f"{prefix}.linear.bias", channels))[:, :, None, None]
    gate = conv(state, f"{prefix}.conv_sentence_vis.weight", h * projected, channels, 1)
    return projected * torch.softmax(gate, dim=1)


def next_stage(state, prefix, h, c, words, mask, res_blocks, sentence):
    """NEXT_STAGE_G: AttnGAN's (``sentence=False``) or MirrorGAN's → ([B, C, 2H, 2W], att)."""
    ngf = h.shape[1]
    context, attention = word_attention(state, f"{prefix}.att", h, words, mask)
    hidden = torch.cat([h, context], 1)
    if sentence:
        hidden = torch.cat([hidden, sentence_attention(state, f"{prefix}.att", h, c)], 1)
        hidden = conv(state, f"{prefix}.conv.weight", hidden, 2 * ngf, 1)
    for index in range(res_blocks):
        hidden = res_block(state, f"{prefix}.residual.{index}.block", hidden)
    return up_block(state, f"{prefix}.upsample", hidden, ngf), attention


def image_head(state, index, h):
    return torch.tanh(conv(state, f"img_net{index}.img.0.weight", h, 3, 3, padding=1))


def generator(state, z, sentence, words, mask, eps, *, ngf, stages, res_blocks, sentence_attn,
              condition_dim):
    """G_NET → dict of c, mu, logvar, h (per stage), images (per stage), attention maps."""
    c, mu, logvar = ca_net(state, sentence, eps, condition_dim)
    hidden = [initial_stage(state, c, z, ngf)]
    attention = []
    for index in range(2, stages + 1):
        out, maps = next_stage(state, f"h_net{index}", hidden[-1], c, words, mask, res_blocks,
                               sentence_attn)
        hidden.append(out)
        attention.append(maps)
    images = [image_head(state, index, h) for index, h in enumerate(hidden, start=1)]
    return {"c": c, "mu": mu, "logvar": logvar, "h": hidden, "images": images,
            "attention": attention}


# ------------------------------------------------------------------------------- D_NET

def _leaky(x):
    return F.leaky_relu(x, 0.2)


def _down(state, conv_key, norm_prefix, x, out_channels):
    hidden = conv(state, conv_key, x, out_channels, 4, stride=2, padding=1)
    return _leaky(hidden if norm_prefix is None else norm(state, norm_prefix, hidden))


def _block3x3(state, prefix, x, out_channels):
    return _leaky(norm(state, f"{prefix}.1", conv(state, f"{prefix}.0.weight", x, out_channels,
                                                  3, padding=1)))


def discriminator(state, size, images, sentence, ndf):
    """D_NET<size> → (features [B, 8ndf, 4, 4], unconditional and conditional logits [B])."""
    x = _down(state, "img_code_s16.0.weight", None, images, ndf)
    for conv_index, norm_index, factor in ((2, 3, 2), (5, 6, 4), (8, 9, 8)):
        x = _down(state, f"img_code_s16.{conv_index}.weight", f"img_code_s16.{norm_index}", x,
                  ndf * factor)
    if size >= 128:
        x = _down(state, "img_code_s32.0.weight", "img_code_s32.1", x, ndf * 16)
    if size == 128:
        x = _block3x3(state, "img_code_s32_1", x, ndf * 8)
    if size == 256:
        x = _down(state, "img_code_s64.0.weight", "img_code_s64.1", x, ndf * 32)
        x = _block3x3(state, "img_code_s64_1", x, ndf * 16)
        x = _block3x3(state, "img_code_s64_2", x, ndf * 8)
    unconditional = _logits(state, "UNCOND_DNET", x)
    tiled = sentence[:, :, None, None].repeat(1, 1, 4, 4)
    joint = _block3x3(state, "COND_DNET.jointConv", torch.cat([x, tiled], 1), ndf * 8)
    return x, unconditional, _logits(state, "COND_DNET", joint)


def _logits(state, prefix, x):
    weight = state.weight(f"{prefix}.outlogits.0.weight", 1, x.shape[1], 4, 4)
    return F.conv2d(x, weight, state.bias(f"{prefix}.outlogits.0.bias", 1), stride=4).view(-1)
