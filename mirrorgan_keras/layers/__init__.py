"""Reusable MirrorGAN layers (docs/design.md §3–§7). All are Keras-serializable."""

from mirrorgan_keras.layers.attention import GlobalLocalAttention, SentenceAttention, WordAttention
from mirrorgan_keras.layers.blocks import ConvBlock, DownBlock, ImageHead, ResBlock, UpBlock
from mirrorgan_keras.layers.caption_decoder import CaptionDecoder
from mirrorgan_keras.layers.caption_image_encoder import CaptionImageEncoder
from mirrorgan_keras.layers.cascade_stage import CascadeStage, InitialStage
from mirrorgan_keras.layers.conditioning import ConditioningAugmentation
from mirrorgan_keras.layers.discriminator import DiscriminatorLogits, StageDiscriminator
from mirrorgan_keras.layers.glu import GLU
from mirrorgan_keras.layers.image_encoder import RegionImageEncoder
from mirrorgan_keras.layers.text_encoder import SemanticTextEncoder

__all__ = [
    "GLU",
    "CaptionDecoder",
    "CaptionImageEncoder",
    "CascadeStage",
    "ConditioningAugmentation",
    "ConvBlock",
    "DiscriminatorLogits",
    "DownBlock",
    "GlobalLocalAttention",
    "ImageHead",
    "InitialStage",
    "RegionImageEncoder",
    "ResBlock",
    "SemanticTextEncoder",
    "SentenceAttention",
    "StageDiscriminator",
    "UpBlock",
    "WordAttention",
]
