"""FID and Inception Score with the field's networks, fed the way the field's code feeds them
(docs/evaluation.md). Two FID networks (:data:`~mirrorgan_keras.convert.fid_inception.
FID_NETWORKS`):

- ``"tf2015"``, TensorFlow's Inception graph of 2015-12-05
  (:func:`~mirrorgan_keras.layers.torch_inception.fid_inception_v3`), the standard FID's:
  :meth:`FIDInception.pool_features` is pytorch-fid's input, an 8-bit image in [0, 1],
  resized to 299 × 299 bilinearly with half-pixel centres and no antialiasing (PyTorch's
  ``interpolate(..., align_corners=False)``), mapped to [-1, 1], its 2048-d average pool.
- ``"torchvision"``, torchvision's ImageNet Inception-v3, which the FID code of DM-GAN, DF-GAN
  and GALIP loads: the image in [0, 1], resized the same way, then each channel c mapped by
  x · (std_c / 0.5) + (mean_c − 0.5) / 0.5 with ImageNet's mean and std (that code's
  ``normalize_input``), its 2048-d average pool.

With ``"tf2015"``:

- :meth:`FIDInception.classifier_logits` is torch-fidelity's Inception Score input (``isc``),
  which is the original TensorFlow scoring code's: the 8-bit image in [0, 255], resized with
  TensorFlow 1's bilinear kernel (corner-aligned grid, no half-pixel centres), mapped by
  (x − 128) / 128, and the classifier's 1008 logits without its bias ("logits_unbiased").
  :func:`fidelity_inception_score` turns them into the score as torch-fidelity does.

Images arrive as the rest of the evaluation gives them, floats in [-1, 1]; they are first
put back on the 8-bit grid, which is what the reference code reads from PNG files.

Typical use::

    inception = FIDInception("pt_inception-2015-12-05-6726825d.pth")
    features = inception.pool_features(images)                  # [N, 2048]
    mean, std = fidelity_inception_score(inception.classifier_logits(images))
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from scipy.special import softmax

from mirrorgan_keras.convert.fid_inception import FID_NETWORKS, load_fid_inception_weights
from mirrorgan_keras.evaluation._batches import map_batches
from mirrorgan_keras.evaluation.inception import inception_score
from mirrorgan_keras.layers.torch_inception import INCEPTION_SIZE

FIDELITY_SHUFFLE_SEED = 2020  # torch-fidelity's default rng_seed
FIDELITY_CENTRE = 128.0  # torch-fidelity (and the 2015 graph): x → (x − 128) / 128
BATCH_SIZE = 50  # pytorch-fid's default
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_uint8_grid(images: tf.Tensor) -> tf.Tensor:
    """Floats in [-1, 1] → the 8-bit values 0 … 255 they stand for, as float32."""
    return tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0)


def _resized_unit_images(images: tf.Tensor) -> tf.Tensor:
    """``[B, H, W, 3]`` in [-1, 1] → the 8-bit images in [0, 1] at 299², bilinear with
    half-pixel centres and no antialiasing (PyTorch's ``align_corners=False``)."""
    unit = to_uint8_grid(images) / 255.0
    return tf.image.resize(unit, (INCEPTION_SIZE, INCEPTION_SIZE), "bilinear")


def pytorch_fid_input(images: tf.Tensor) -> tf.Tensor:
    """``[B, H, W, 3]`` in [-1, 1] → pytorch-fid's network input ``[B, 299, 299, 3]``."""
    return 2.0 * _resized_unit_images(images) - 1.0


def torchvision_fid_input(images: tf.Tensor) -> tf.Tensor:
    """``[B, H, W, 3]`` in [-1, 1] → the network input of DM-GAN's / DF-GAN's FID code."""
    resized = _resized_unit_images(images)
    mean, std = tf.constant(IMAGENET_MEAN), tf.constant(IMAGENET_STD)
    return resized * (std / 0.5) + (mean - 0.5) / 0.5


FID_INPUTS = {"tf2015": pytorch_fid_input, "torchvision": torchvision_fid_input}


def fidelity_input(images: tf.Tensor) -> tf.Tensor:
    """``[B, H, W, 3]`` in [-1, 1] → torch-fidelity's network input ``[B, 299, 299, 3]``."""
    resized = tf.raw_ops.ResizeBilinear(
        images=to_uint8_grid(images), size=(INCEPTION_SIZE, INCEPTION_SIZE),
        align_corners=False, half_pixel_centers=False)
    return (resized - FIDELITY_CENTRE) / FIDELITY_CENTRE


class FIDInception:
    """A FID network with its field's inputs: pool features as pytorch-fid (``"tf2015"``) or
    DM-GAN / DF-GAN (``"torchvision"``) compute them, logits as torch-fidelity (``"tf2015"``).

    Args:
        weights: the network's ``.pth`` file (pytorch-fid's
            ``pt_inception-2015-12-05-6726825d.pth``, torchvision's
            ``inception_v3_google-*.pth``; needs PyTorch), a ``.weights.h5`` converted from
            it, or None (random weights: tests only).
        network: ``"tf2015"`` or ``"torchvision"`` (module docstring).
        batch_size: images per forward pass for array inputs.
        verbose: progress bar (1) or silent (0).

    Example::

        pool = FIDInception(None, verbose=0).pool_features(images)  # [N, 2048]
    """

    def __init__(self, weights: str | None, *, network: str = "tf2015",
                 batch_size: int = BATCH_SIZE, verbose: int = 1):
        if network not in FID_NETWORKS:
            raise ValueError(f"network must be one of {sorted(FID_NETWORKS)}, got {network!r}")
        self.network_name = network
        self.network = FID_NETWORKS[network].build()
        if weights is not None:
            load_fid_inception_weights(self.network, weights, network)
        self.batch_size = batch_size
        self.verbose = verbose
        self._pool = tf.function(self._pool_batch, reduce_retracing=True)
        self._logits = tf.function(self._logits_batch, reduce_retracing=True)

    def _pool_batch(self, images):
        pool, _ = self.network(FID_INPUTS[self.network_name](images), training=False)
        return pool

    def _logits_batch(self, images):
        pool, _ = self.network(fidelity_input(images), training=False)
        return tf.matmul(pool, self.network.get_layer("fc").kernel)

    def pool_features(self, images) -> np.ndarray:
        """Images ``[N, H, W, 3]`` in [-1, 1] (array or iterable of batches) → the network's
        2048-d FID features ``[N, 2048]``."""
        (features,) = map_batches(self._pool, images, self.batch_size, self.verbose)
        return features

    def classifier_logits(self, images) -> np.ndarray:
        """Images ``[N, H, W, 3]`` in [-1, 1] → torch-fidelity's ``logits_unbiased``
        ``[N, 1008]``, the Inception Score's input (``"tf2015"`` only)."""
        if self.network_name != "tf2015":
            raise ValueError("the Inception Score's logits are the 2015 graph's (network "
                             f"'tf2015'), not {self.network_name!r}'s")
        (logits,) = map_batches(self._logits, images, self.batch_size, self.verbose)
        return logits


def fidelity_inception_score(logits, splits: int = 10, *,
                             shuffle_seed: int | None = FIDELITY_SHUFFLE_SEED
                             ) -> tuple[float, float]:
    """torch-fidelity's Inception Score of ``logits`` ``[N, 1008]``: softmax over all 1008
    classes (in float64), rows shuffled by NumPy's ``RandomState(shuffle_seed)`` permutation
    (None: kept in order, as the original TensorFlow code), then :func:`inception_score`."""
    logits = np.asarray(logits, dtype=np.float64)
    if shuffle_seed is not None:
        logits = logits[np.random.RandomState(shuffle_seed).permutation(len(logits))]
    return inception_score(softmax(logits, axis=1), splits)
