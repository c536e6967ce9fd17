"""Inception Score (docs/design.md §9) and the Inception pool features that FID uses, from one pass.

IS = exp(E_x KL(p(y|x) ‖ p(y))), computed per split and reported as mean ± std over the
splits. The classifier is Keras' InceptionV3 with its top: ImageNet weights (1000 classes, the
COCO protocol), random weights (tests), or a user's local fine-tuned model. The CUB protocol with
StackGAN's own birds checkpoint is :mod:`mirrorgan_keras.evaluation.birds_inception`. Images
in [-1, 1] are bilinearly resized to 299 × 299, which is InceptionV3's own input range; no other
preprocessing is applied.

Keras' ImageNet InceptionV3 weights are not the 2015 graph of the reference IS code (OpenAI's
``improved-gan``), so absolute scores differ somewhat from published ones: compare models
under the same scorer, and use the same weights for real and generated FID statistics.

Typical use::

    scorer = InceptionScorer("imagenet")
    outputs = scorer.predict(images)  # or a tf.data.Dataset of image batches
    mean, std = inception_score(outputs.probabilities, splits=10)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import keras
import numpy as np
from scipy.special import softmax, xlogy

from mirrorgan_keras.evaluation._batches import map_batches

INCEPTION_SIZE = 299
IMAGENET_CLASSES = 1000
POOL_LAYER = "avg_pool"


class InceptionOutputs(NamedTuple):
    """What one pass of the scorer gives.

    probabilities: ``[N, K]`` class probabilities (rows sum to 1).
    pool_features: ``[N, 2048]`` global average pool of the last Inception block (FID's input).
    """

    probabilities: np.ndarray
    pool_features: np.ndarray


def inception_score(probabilities, splits: int = 10) -> tuple[float, float]:
    """Mean and std over ``splits`` consecutive splits of exp(E_x KL(p(y|x) ‖ p(y))).

    Split ``i`` is rows ``i * N // splits`` to ``(i + 1) * N // splits``, as in the reference
    scripts (OpenAI's ``improved-gan``, StackGAN's ``inception_score.py``, torch-fidelity);
    computed in float64 with 0 · log 0 = 0 (the references, in float32, would give NaN for a
    zero probability).

    Args:
        probabilities: ``[N, K]`` rows p(y|x), each summing to 1; N >= splits.
        splits: number of splits (10 in the reference); p(y) is the mean row of each split.

    Returns:
        ``(mean, std)`` (population std, as the reference's ``np.std``).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must be [N, K], got shape {probabilities.shape}")
    if not 1 <= splits <= len(probabilities):
        raise ValueError(f"splits must be in [1, N={len(probabilities)}], got {splits}")
    if probabilities.min() < 0 or not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("probabilities must be non-negative rows that sum to 1")
    scores = []
    bounds = [index * len(probabilities) // splits for index in range(splits + 1)]
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        part = probabilities[start:end]
        marginal = part.mean(axis=0, keepdims=True)
        kl = np.sum(xlogy(part, part) - xlogy(part, marginal), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


class InceptionScorer:
    """Class probabilities and pool features of images, batched, with a progress bar.

    Args:
        weights: "imagenet" (downloaded by Keras once, then cached), None (random weights, for
            tests), a local ``.keras`` model file (an InceptionV3-style classifier: any input,
            a layer named ``avg_pool`` giving the 2048-d features, logits or softmax output),
            or a local ``.weights.h5`` file of ``keras.applications.InceptionV3`` with
            ``num_classes`` classes.
        num_classes: classes of the top for None or a ``.weights.h5`` file (default 1000);
            checked against a ``.keras`` model.
        class_indices: the classes p(y|x) is taken over (the softmax is renormalised over
            them), e.g. ``range(1, 51)`` to drop logit 0 of a 51-logit slim birds model whose
            class 0 is "background"; None keeps all.
        batch_size: images per forward pass for array inputs.
        verbose: progress bar (1) or silent (0).

    Example::

        outputs = InceptionScorer(weights=None).predict(images)  # (N, 1000), (N, 2048)
    """

    def __init__(self, weights: str | None = "imagenet", num_classes: int | None = None,
                 class_indices: Sequence[int] | None = None, *, batch_size: int = 64,
                 verbose: int = 1):
        classifier = load_classifier(weights, num_classes)
        self.class_indices = None if class_indices is None else np.asarray(class_indices)
        self.batch_size = batch_size
        self.verbose = verbose
        self.outputs_probabilities = _has_softmax_output(classifier)
        self.model = _resizing_model(classifier)

    def predict(self, images) -> InceptionOutputs:
        """Images ``[N, H, W, 3]`` in [-1, 1] (array or iterable of batches) → outputs."""
        scores, pool = map_batches(self.model.predict_on_batch, images, self.batch_size,
                                   self.verbose)
        return InceptionOutputs(self._probabilities(scores), pool)

    def _probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Model outputs ``[N, C]`` → probabilities ``[N, K]`` over ``class_indices``."""
        scores = scores.astype(np.float64)
        if self.outputs_probabilities:
            scores = np.log(np.maximum(scores, 1e-30))
        if self.class_indices is not None:
            scores = scores[:, self.class_indices]
        return softmax(scores, axis=1)


def load_classifier(weights: str | None, num_classes: int | None = None) -> keras.Model:
    """The InceptionV3 classifier that ``weights`` names (see :class:`InceptionScorer`)."""
    if weights is None or weights == "imagenet":
        if weights == "imagenet" and num_classes not in (None, IMAGENET_CLASSES):
            raise ValueError(f"ImageNet weights have 1000 classes, got num_classes={num_classes}")
        return _inception_v3(weights, num_classes)
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"Inception weights file {weights!r} does not exist")
    if weights.endswith(".weights.h5"):
        classifier = _inception_v3(None, num_classes)
        classifier.load_weights(weights)
        return classifier
    if weights.endswith(".keras"):
        classifier = keras.saving.load_model(weights, compile=False)
        classes = classifier.outputs[0].shape[-1]
        if num_classes not in (None, classes):
            raise ValueError(f"{weights!r} has {classes} classes, num_classes is {num_classes}")
        return classifier
    raise ValueError(
        f"weights must be 'imagenet', None, a .keras or a .weights.h5 file, got {weights!r}"
    )


def _inception_v3(weights: str | None, num_classes: int | None) -> keras.Model:
    """keras.applications.InceptionV3 with its top, giving logits."""
    return keras.applications.InceptionV3(
        include_top=True, weights=weights, classes=num_classes or IMAGENET_CLASSES,
        classifier_activation=None,
    )


def _has_softmax_output(classifier: keras.Model) -> bool:
    """Whether the classifier's last layer ends with a softmax (else it gives logits)."""
    activation = getattr(classifier.layers[-1], "activation", None)
    return activation is keras.activations.softmax


def _resizing_model(classifier: keras.Model) -> keras.Model:
    """``[B, H, W, 3]`` in [-1, 1] → (classifier output ``[B, C]``, pool ``[B, 2048]``).

    Images are bilinearly resized to the classifier's input side (299 when it has none).
    """
    try:
        pool = classifier.get_layer(POOL_LAYER).output
    except ValueError as error:
        raise ValueError(
            f"the classifier has no layer named {POOL_LAYER!r} for the pool features"
        ) from error
    two_headed = keras.Model(classifier.inputs, [classifier.outputs[0], pool])
    side = classifier.inputs[0].shape[1] or INCEPTION_SIZE
    images = keras.Input((None, None, 3))
    resized = keras.layers.Resizing(side, side, "bilinear")(images)
    return keras.Model(images, two_headed(resized), name="inception_scorer")
