"""DAMSM image encoder: region features and a global image code (docs/design.md §4)."""

from __future__ import annotations

import keras
from keras import ops

from mirrorgan_keras.config import DAMSM_BACKBONES
from mirrorgan_keras.layers._common import check_backbone, conv_norm_act, uniform
from mirrorgan_keras.layers.torch_inception import torch_inception_v3_trunk


def inception_v3_trunk(weights: str | None, image_size: int = 299) -> keras.Model:
    """InceptionV3 without its top, with outputs ``(mixed7 [B,17,17,768], mixed10 [B,8,8,2048])``.

    ``weights``: None (random), "imagenet" (downloaded by Keras) or a local weights file.
    Expects images in [-1, 1] (InceptionV3's own preprocessing).
    """
    inception = keras.applications.InceptionV3(
        include_top=False, weights=weights, input_shape=(image_size, image_size, 3)
    )
    outputs = [inception.get_layer("mixed7").output, inception.get_layer("mixed10").output]
    return keras.Model(inception.input, outputs, name="inception_v3_trunk")


def small_trunk(image_size: int, width: int = 32) -> keras.Model:
    """A small CNN with the same two outputs for CPU presets.

    ``[B, S, S, 3]`` → ``(regions [B, S/4, S/4, 4·width], global [B, S/8, S/8, 8·width])``.
    """
    images = keras.Input((image_size, image_size, 3))
    hidden = conv_norm_act(images, width, 1, 0)
    hidden = conv_norm_act(hidden, 2 * width, 2, 1)
    regions = conv_norm_act(hidden, 4 * width, 2, 2)
    hidden = conv_norm_act(regions, 8 * width, 2, 3)
    return keras.Model(images, [regions, hidden], name="small_trunk")


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class RegionImageEncoder(keras.layers.Layer):
    """Images in [-1, 1] → region features and a global code in the text embedding space.

    Images are bilinearly resized to ``image_size``. With the InceptionV3 backbone, ``mixed7``
    (17×17×768) → bias-free 1×1 conv → regions ``[B, 17, 17, D]``, and ``mixed10`` → global
    average pool → dense → code ``[B, D]``. Only the 1×1 conv and the dense (U(−0.1, 0.1) init)
    train unless ``freeze_backbone=False``; a frozen backbone always runs in inference mode.
    The "small" backbone gives ``image_size / 4`` regions per side with the same outputs.

    Backbones: "inception_v3" is Keras's InceptionV3 (``weights="imagenet"``: Keras's ImageNet
    weights), for training DAMSM here. "inception_v3_torch" is torchvision's Inception-v3
    function (:mod:`mirrorgan_keras.layers.torch_inception`; ``Mixed_6e`` and ``Mixed_7c`` in
    place of ``mixed7`` and ``mixed10``), with weights converted from AttnGAN's DAMSM image
    encoders (:mod:`mirrorgan_keras.convert`): the encoder behind the field's R-precision.

    Args:
        embedding_dim: D, the text embedding width (256).
        backbone: "inception_v3", "inception_v3_torch" or "small".
        weights: backbone weights: None, "imagenet" or a local file ("inception_v3" only; the
            others take None). When a saved layer is loaded the backbone is rebuilt with
            ``weights=None`` and the saved weights restored, so loading never downloads.
        image_size: backbone input side (299 for InceptionV3).
        freeze_backbone: keep the backbone's weights fixed.

    Call:
        images: ``[B, H, W, 3]`` in [-1, 1].

    Returns:
        ``(regions [B, R, R, D], code [B, D])``; R = 17 for InceptionV3 at 299.

    Example::

        regions, code = RegionImageEncoder(weights=None)(images)  # (B,17,17,256), (B,256)
    """

    def __init__(self, embedding_dim: int = 256, backbone: str = "inception_v3",
                 weights: str | None = "imagenet", image_size: int = 299, *,
                 freeze_backbone: bool = True, **kwargs):
        super().__init__(**kwargs)
        check_backbone(backbone, DAMSM_BACKBONES, weights)
        self.embedding_dim = embedding_dim
        self.backbone_name = backbone
        self.weights_source = weights
        self.image_size = image_size
        self.freeze_backbone = freeze_backbone
        if backbone == "inception_v3":
            self.backbone = inception_v3_trunk(weights, image_size)
        elif backbone == "inception_v3_torch":
            self.backbone = torch_inception_v3_trunk(image_size)
        else:
            self.backbone = small_trunk(image_size)
        self.backbone.trainable = not freeze_backbone
        self.region_projection = keras.layers.Conv2D(
            embedding_dim, 1, use_bias=False, kernel_initializer=uniform(0.1), name="regions"
        )
        self.code_projection = keras.layers.Dense(
            embedding_dim, kernel_initializer=uniform(0.1), name="code"
        )

    def build(self, images_shape):
        region_shape, global_shape = (t.shape for t in self.backbone.outputs)
        self.region_projection.build(region_shape)
        self.code_projection.build((global_shape[0], global_shape[-1]))
        self.built = True

    def call(self, images, training=None):
        images = ops.image.resize(images, (self.image_size, self.image_size), "bilinear")
        backbone_training = False if self.freeze_backbone else training
        local_features, global_features = self.backbone(images, training=backbone_training)
        regions = self.region_projection(local_features)
        code = self.code_projection(ops.mean(global_features, axis=(1, 2)))
        return regions, code

    def compute_output_shape(self, images_shape):
        side = self.backbone.outputs[0].shape[1]
        batch = images_shape[0]
        return (batch, side, side, self.embedding_dim), (batch, self.embedding_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "embedding_dim": self.embedding_dim,
            "backbone": self.backbone_name,
            "weights": self.weights_source,
            "image_size": self.image_size,
            "freeze_backbone": self.freeze_backbone,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "weights": None})
