"""STREAM's image encoder: an ImageNet CNN, a projection and batch norm (docs/design.md §7)."""

from __future__ import annotations

import keras
from keras import ops

from mirrorgan_keras.config import STREAM_BACKBONES
from mirrorgan_keras.layers._common import check_backbone, conv_norm_act


def resnet152_trunk(weights: str | None, image_size: int = 224) -> keras.Model:
    """ResNet-152 without its top, globally average-pooled: ``[B, S, S, 3]`` → ``[B, 2048]``.

    Takes images in Keras' ResNet ("caffe") preprocessing; ``weights``: None, "imagenet" or a
    local weights file.
    """
    return keras.applications.ResNet152(
        include_top=False, weights=weights, input_shape=(image_size, image_size, 3),
        pooling="avg",
    )


def small_spatial_trunk(image_size: int, width: int = 32) -> keras.Model:
    """A small CNN for CPU presets: ``[B, S, S, 3]`` in [-1, 1] → ``[B, (S/16)² · 8·width]``.

    Four stride-2 blocks, then the feature map is flattened, not pooled: a captioner must know
    *where* a colour is to say which part has it, and global pooling keeps only which colours
    are present (docs/experiments.md).
    """
    images = keras.Input((image_size, image_size, 3))
    hidden = images
    for i, filters in enumerate((width, 2 * width, 4 * width, 8 * width)):
        hidden = conv_norm_act(hidden, filters, 2, i)
    return keras.Model(images, keras.layers.Flatten()(hidden), name="small_trunk")


@keras.saving.register_keras_serializable(package="mirrorgan_keras")
class CaptionImageEncoder(keras.layers.Layer):
    """Images in [-1, 1] → the image feature that starts STREAM's caption decoder.

    Bilinear resize to ``image_size`` → CNN (ResNet-152 with its own preprocessing applied here,
    so real images at pretraining and generated images at GAN time go through exactly the same
    transform) → dense ``embed_size`` → batch norm (momentum 0.99, PyTorch 0.01).

    Args:
        embed_size: output width (256).
        backbone: "resnet152" or "small".
        weights: backbone weights (None, "imagenet" or a local file); loading a saved layer
            rebuilds the backbone with ``weights=None`` and restores the saved weights.
        image_size: backbone input side (224).
        bn_momentum: Keras momentum of the final batch norm.
        freeze_backbone: keep the CNN fixed and in inference mode (the reference trains only
            the projection, batch norm and decoder).

    Call:
        images: ``[B, H, W, 3]`` in [-1, 1].

    Returns:
        ``[B, embed_size]``.

    Example::

        features = CaptionImageEncoder(weights=None)(images)  # (B, 256)
    """

    def __init__(self, embed_size: int = 256, backbone: str = "resnet152",
                 weights: str | None = "imagenet", image_size: int = 224, *,
                 bn_momentum: float = 0.99, freeze_backbone: bool = True, **kwargs):
        super().__init__(**kwargs)
        check_backbone(backbone, STREAM_BACKBONES, weights)
        self.embed_size = embed_size
        self.backbone_name = backbone
        self.weights_source = weights
        self.image_size = image_size
        self.bn_momentum = bn_momentum
        self.freeze_backbone = freeze_backbone
        if backbone == "resnet152":
            self.backbone = resnet152_trunk(weights, image_size)
        else:
            self.backbone = small_spatial_trunk(image_size)
        self.backbone.trainable = not freeze_backbone
        self.projection = keras.layers.Dense(embed_size, name="projection")
        self.norm = keras.layers.BatchNormalization(momentum=bn_momentum, epsilon=1e-5,
                                                    synchronized=True, name="norm")

    def build(self, images_shape):
        features = self.backbone.outputs[0].shape[-1]
        self.projection.build((images_shape[0], features))
        self.norm.build((images_shape[0], self.embed_size))
        self.built = True

    def backbone_features(self, images, training=None):
        """Resize, preprocess and run the CNN: ``[B, H, W, 3]`` in [-1, 1] → ``[B, F]``."""
        images = ops.image.resize(images, (self.image_size, self.image_size), "bilinear")
        if self.backbone_name == "resnet152":
            images = keras.applications.resnet.preprocess_input((images + 1.0) * 127.5)
        backbone_training = training if self.backbone.trainable else False
        return self.backbone(images, training=backbone_training)

    def call(self, images, training=None):
        features = self.backbone_features(images, training=training)
        return self.norm(self.projection(features), training=training)

    def compute_output_shape(self, images_shape):
        return images_shape[0], self.embed_size

    def get_config(self):
        return {
            **super().get_config(),
            "embed_size": self.embed_size,
            "backbone": self.backbone_name,
            "weights": self.weights_source,
            "image_size": self.image_size,
            "bn_momentum": self.bn_momentum,
            "freeze_backbone": self.freeze_backbone,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "weights": None})
