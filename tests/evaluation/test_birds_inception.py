"""The CUB Inception Score protocol: slim's Inception-v3 read from a TF1 checkpoint (StackGAN's
birds model), its preprocessing, the background class and the reference's splits.

No download: a checkpoint with the reference's variable names and shapes and random values is
written with ``SaveV2``; its ExponentialMovingAverage shadows differ from the raw variables.
The expected logits come from an independent forward pass in ``tf.nn`` ops that follows
``inception/slim/inception_model.py`` and reads the checkpoint by name.
"""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from mirrorgan_keras.convert import (
    CheckpointConversionError,
    load_slim_inception_checkpoint,
    save_slim_inception_weights,
)
from mirrorgan_keras.evaluation import (
    birds_inception_probabilities,
    birds_inception_score,
    inception_score,
    known_class_probabilities,
    load_birds_inception,
    resize_like_reference,
)
from mirrorgan_keras.layers.slim_inception import slim_inception_v3

SHADOW = "/ExponentialMovingAverage"
CLASSES = 51
SMALL = 75  # the smallest input slim's network takes
RAW_FACTOR = 1.5  # raw variables = 1.5 × their shadows: other logits, same signs


# ---------------------------------------------------------------- the independent reference


class Scope:
    """A slim variable scope whose unnamed convolutions are Conv, Conv_1, Conv_2, …"""

    def __init__(self, params, name):
        self.params, self.name, self.count = params, name, itertools.count()

    def conv(self, x, filters, kernel, stride=1, padding="SAME"):
        index = next(self.count)
        return conv_bn_relu(self.params, x, f"{self.name}/Conv{f'_{index}' if index else ''}",
                            filters, kernel, stride, padding)


def conv_bn_relu(params, x, scope, filters, kernel, stride=1, padding="SAME"):
    """slim ops.conv2d with batch_norm_params (eval): conv, (x - mean)/sqrt(var + 1e-3) + beta,
    relu."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    weights = params(f"{scope}/weights", (kh, kw, x.shape[-1], filters))
    y = tf.nn.conv2d(x, weights, stride, padding)
    stats = [params(f"{scope}/BatchNorm/{name}", (filters,))
             for name in ("moving_mean", "moving_variance", "beta")]
    return tf.nn.relu(tf.nn.batch_normalization(y, stats[0], stats[1], stats[2], None, 1e-3))


def fully_connected(params, x, scope, units):
    return tf.matmul(x, params(f"{scope}/weights", (x.shape[-1], units))) + params(
        f"{scope}/biases", (units,))


def avg3(x):
    return tf.nn.avg_pool2d(x, 3, 1, "SAME")


def max3(x):
    return tf.nn.max_pool2d(x, 3, 2, "VALID")


def mixed_35(params, x, name, pool_filters):
    a = Scope(params, f"{name}/branch1x1").conv(x, 64, 1)
    s = Scope(params, f"{name}/branch5x5")
    b = s.conv(s.conv(x, 48, 1), 64, 5)
    s = Scope(params, f"{name}/branch3x3dbl")
    c = s.conv(s.conv(s.conv(x, 64, 1), 96, 3), 96, 3)
    d = Scope(params, f"{name}/branch_pool").conv(avg3(x), pool_filters, 1)
    return tf.concat([a, b, c, d], 3)


def mixed_17(params, x, name, width):
    a = Scope(params, f"{name}/branch1x1").conv(x, 192, 1)
    s = Scope(params, f"{name}/branch7x7")
    b = s.conv(s.conv(s.conv(x, width, 1), width, [1, 7]), 192, [7, 1])
    s = Scope(params, f"{name}/branch7x7dbl")
    c = s.conv(x, width, 1)
    for filters, kernel in ((width, [7, 1]), (width, [1, 7]), (width, [7, 1]), (192, [1, 7])):
        c = s.conv(c, filters, kernel)
    d = Scope(params, f"{name}/branch_pool").conv(avg3(x), 192, 1)
    return tf.concat([a, b, c, d], 3)


def mixed_8(params, x, name):
    a = Scope(params, f"{name}/branch1x1").conv(x, 320, 1)
    s = Scope(params, f"{name}/branch3x3")
    b = s.conv(x, 384, 1)
    b = tf.concat([s.conv(b, 384, [1, 3]), s.conv(b, 384, [3, 1])], 3)
    s = Scope(params, f"{name}/branch3x3dbl")
    c = s.conv(s.conv(x, 448, 1), 384, 3)
    c = tf.concat([s.conv(c, 384, [1, 3]), s.conv(c, 384, [3, 1])], 3)
    d = Scope(params, f"{name}/branch_pool").conv(avg3(x), 192, 1)
    return tf.concat([a, b, c, d], 3)


def reference_forward(params, images, num_classes=CLASSES):
    """slim inception_v3(is_training=False) → (logits, aux_logits, 2048-d pool)."""
    x = conv_bn_relu(params, images, "conv0", 32, 3, 2, "VALID")
    x = conv_bn_relu(params, x, "conv1", 32, 3, 1, "VALID")
    x = max3(conv_bn_relu(params, x, "conv2", 64, 3, 1, "SAME"))
    x = conv_bn_relu(params, x, "conv3", 80, 1, 1, "VALID")
    x = max3(conv_bn_relu(params, x, "conv4", 192, 3, 1, "VALID"))
    for name, pool_filters in (("mixed_35x35x256a", 32), ("mixed_35x35x288a", 64),
                               ("mixed_35x35x288b", 64)):
        x = mixed_35(params, x, name, pool_filters)
    s = Scope(params, "mixed_17x17x768a/branch3x3dbl")
    x = tf.concat([Scope(params, "mixed_17x17x768a/branch3x3").conv(x, 384, 3, 2, "VALID"),
                   s.conv(s.conv(s.conv(x, 64, 1), 96, 3), 96, 3, 2, "VALID"), max3(x)], 3)
    for name, width in (("b", 128), ("c", 160), ("d", 160), ("e", 192)):
        x = mixed_17(params, x, f"mixed_17x17x768{name}", width)
    aux = tf.nn.avg_pool2d(x, 5, 3, "VALID")
    aux = conv_bn_relu(params, aux, "aux_logits/proj", 128, 1)
    aux = conv_bn_relu(params, aux, "aux_logits/Conv", 768, list(aux.shape[1:3]), 1, "VALID")
    aux = fully_connected(params, tf.reshape(aux, [-1, 768]), "aux_logits/FC", num_classes)
    s, t = Scope(params, "mixed_17x17x1280a/branch3x3"), Scope(params,
                                                              "mixed_17x17x1280a/branch7x7x3")
    seven = t.conv(t.conv(t.conv(x, 192, 1), 192, [1, 7]), 192, [7, 1])
    x = tf.concat([s.conv(s.conv(x, 192, 1), 320, 3, 2, "VALID"),
                   t.conv(seven, 192, 3, 2, "VALID"), max3(x)], 3)
    for name in ("mixed_8x8x2048a", "mixed_8x8x2048b"):
        x = mixed_8(params, x, name)
    pool = tf.reshape(tf.nn.avg_pool2d(x, x.shape[1:3], 1, "VALID"), [-1, 2048])
    return fully_connected(params, pool, "logits/logits", num_classes), aux, pool


class RandomShadows:
    """A parameter source that draws sane random values and remembers them (the shadows)."""

    def __init__(self, seed):
        self.rng, self.values = np.random.default_rng(seed), {}

    def __call__(self, name, shape):
        kind, size = name.rsplit("/", 1)[1], np.prod(shape[:-1])
        draw = {
            "weights": lambda: self.rng.standard_normal(shape) * np.sqrt(2 / size),
            "moving_variance": lambda: self.rng.uniform(0.5, 1.5, shape),
        }.get(kind, lambda: 0.1 * self.rng.standard_normal(shape))
        self.values[name] = draw().astype(np.float32)
        return self.values[name]


def reader_params(reader, suffix=SHADOW):
    def params(name, shape):
        value = reader.get_tensor(name + suffix)
        assert value.shape == tuple(shape), name
        return value
    return params


def write_checkpoint(prefix, tensors):
    names = sorted(tensors)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names,
                      shape_and_slices=[""] * len(names), tensors=[tensors[n] for n in names])
    return str(prefix)


@pytest.fixture(scope="module")
def shadows():
    source = RandomShadows(0)
    reference_forward(source, tf.zeros((1, 299, 299, 3)))
    return source.values


@pytest.fixture(scope="module")
def checkpoint(shadows, tmp_path_factory):
    """Raw variables, their shadows, global_step and RMSProp slots, as the training saved."""
    tensors = {name + SHADOW: value for name, value in shadows.items()}
    tensors.update({name: value * RAW_FACTOR for name, value in shadows.items()})
    tensors["global_step"] = np.int64(5000)
    tensors["conv0/weights/RMSProp"] = shadows["conv0/weights"]
    return write_checkpoint(tmp_path_factory.mktemp("birds") / "model.ckpt-5000", tensors)


@pytest.fixture(scope="module")
def small_model(checkpoint):
    return load_slim_inception_checkpoint(checkpoint, slim_inception_v3(image_size=SMALL))


def within_tolerance(actual, expected):
    expected = np.asarray(expected)
    assert np.isfinite(expected).all()
    np.testing.assert_array_less(np.abs(np.asarray(actual) - expected),
                                 1e-4 * np.maximum(1, np.abs(expected)))


# ---------------------------------------------------------------- the network and the loader


def test_logits_match_an_independent_forward_pass_of_the_moving_averages(checkpoint):
    model = load_slim_inception_checkpoint(checkpoint, slim_inception_v3(aux_logits=True))
    images = np.random.default_rng(1).uniform(-1, 1, (2, 299, 299, 3)).astype(np.float32)
    logits, aux, pool = reference_forward(reader_params(tf.train.load_checkpoint(checkpoint)),
                                          images)
    outputs = model(images)
    assert np.std(logits) > 0.1  # not a degenerate network
    within_tolerance(outputs["logits"], logits)
    within_tolerance(outputs["aux_logits"], aux)
    within_tolerance(outputs["pool"], pool)


def test_raw_variables_are_read_only_on_request(checkpoint, shadows, small_model):
    kernel = shadows["mixed_8x8x2048b/branch3x3dbl/Conv_3/weights"]
    layer = "mixed_8x8x2048b.branch3x3dbl.Conv_3"
    assert small_model.get_layer(layer).kernel.shape == (3, 1, 384, 384)
    np.testing.assert_array_equal(small_model.get_layer(layer).kernel, kernel)
    np.testing.assert_array_equal(small_model.get_layer("conv0.BatchNorm").moving_variance,
                                  shadows["conv0/BatchNorm/moving_variance"])
    raw = load_slim_inception_checkpoint(checkpoint, slim_inception_v3(image_size=SMALL),
                                         use_moving_averages=False)
    np.testing.assert_array_equal(raw.get_layer(layer).kernel, kernel * RAW_FACTOR)
    np.testing.assert_array_equal(raw.get_layer("logits.logits").bias,
                                  shadows["logits/logits/biases"] * RAW_FACTOR)


def test_weights_file_round_trip(checkpoint, small_model, tmp_path):
    path = tmp_path / "birds_inception.weights.h5"
    save_slim_inception_weights(checkpoint, path)
    loaded = load_birds_inception(path, image_size=SMALL)
    for expected, restored in zip(small_model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(expected, restored)
    with pytest.raises(ValueError, match=".weights.h5"):
        save_slim_inception_weights(checkpoint, tmp_path / "birds.h5")


def test_a_weights_file_of_another_network_is_refused_naming_it(tmp_path):
    path = tmp_path / "fid_inception.weights.h5"  # e.g. the FID network's conversion
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save_weights(path)
    with pytest.raises(CheckpointConversionError,
                       match=r"fid_inception.weights.h5 is not a .weights.h5 file of StackGAN's"):
        load_birds_inception(path, image_size=SMALL)


# ---------------------------------------------------------------- refused checkpoints


def test_another_network_is_refused(tmp_path):
    path = write_checkpoint(tmp_path / "ckpt", {
        "InceptionV3/Conv2d_1a_3x3/weights": np.zeros((3, 3, 3, 32), np.float32)})
    with pytest.raises(CheckpointConversionError,
                       match=r"ckpt is not a checkpoint of slim's Inception-v3.*Conv2d_1a_3x3"):
        load_slim_inception_checkpoint(path)


@pytest.mark.parametrize("change, message", [
    ("missing", r"missing key 'mixed_17x17x768c/branch7x7/Conv_2/weights/Exponential"
                r"MovingAverage'.*shape \(7, 1, 160, 192\)"),
    ("shape", r"key 'logits/logits/weights/ExponentialMovingAverage' has shape \(2048, 50\)"
              r".*expects shape \(2048, 51\)"),
    ("gamma", r"unknown key 'conv4/BatchNorm/gamma/ExponentialMovingAverage'"),
])
def test_missing_unexpected_and_mis_shaped_variables_are_named(shadows, small_model, tmp_path,
                                                               change, message):
    tensors = {name + SHADOW: value for name, value in shadows.items()}
    if change == "missing":
        del tensors["mixed_17x17x768c/branch7x7/Conv_2/weights" + SHADOW]
    elif change == "shape":
        tensors["logits/logits/weights" + SHADOW] = np.zeros((2048, 50), np.float32)
    else:
        tensors["conv4/BatchNorm/gamma" + SHADOW] = np.ones(192, np.float32)
    path = write_checkpoint(tmp_path / "model.ckpt", tensors)
    before = small_model.get_weights()[0].copy()
    pattern = f"(?s)model.ckpt does not match .*{message}"
    with pytest.raises(CheckpointConversionError, match=pattern):
        load_slim_inception_checkpoint(path, small_model)
    np.testing.assert_array_equal(small_model.get_weights()[0], before)  # nothing assigned


def write_v1_checkpoint(prefix, name, value):
    """A TF1 Saver's single-file (V1 format) checkpoint of one variable."""
    with tf.Graph().as_default():
        tf.compat.v1.get_variable(name, initializer=value)
        saver = tf.compat.v1.train.Saver(write_version=tf.compat.v1.train.SaverDef.V1)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return saver.save(session, str(prefix), write_meta_graph=False)


def test_a_v1_checkpoint_without_shadows_asks_for_the_raw_variables(small_model, tmp_path):
    path = write_v1_checkpoint(tmp_path / "raw.ckpt", "logits/logits/biases",
                               np.zeros(CLASSES, np.float32))
    with pytest.raises(CheckpointConversionError,
                       match="no logits/logits/biases/Exp.*use_moving_averages=False"):
        load_slim_inception_checkpoint(path, small_model)


def test_files_that_are_not_checkpoints_are_refused(checkpoint, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_slim_inception_checkpoint(tmp_path / "absent.ckpt")
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    with pytest.raises(CheckpointConversionError, match="notes.txt is not a readable"):
        load_slim_inception_checkpoint(tmp_path / "notes.txt")
    index = open(f"{checkpoint}.index", "rb").read()
    (tmp_path / "cut.ckpt.index").write_bytes(index[: len(index) // 2])
    with pytest.raises(CheckpointConversionError, match="cut.ckpt is not a readable"):
        load_slim_inception_checkpoint(tmp_path / "cut.ckpt")


# ---------------------------------------------------------------- the protocol


def test_resize_is_pil_bilinear_on_uint8():
    images = np.random.default_rng(2).integers(0, 256, (2, 37, 53, 3), dtype=np.uint8)
    resized = resize_like_reference(images)
    assert resized.dtype == np.uint8 and resized.shape == (2, 299, 299, 3)
    for image, result in zip(images, resized, strict=True):
        expected = Image.fromarray(image).resize((299, 299), Image.BILINEAR)
        np.testing.assert_array_equal(result, np.asarray(expected))
    with pytest.raises(ValueError, match="uint8"):
        resize_like_reference(images.astype(np.float32))


def test_probabilities_drop_the_background_class(small_model):
    images = np.random.default_rng(3).integers(0, 256, (4, 40, 40, 3), dtype=np.uint8)
    probabilities = birds_inception_probabilities(small_model, images, batch_size=2)
    assert probabilities.shape == (4, CLASSES - 1)
    resized = resize_like_reference(images, SMALL).astype(np.float32) / 127.5 - 1
    assert resized.min() == -1 and resized.max() <= 1
    logits = np.asarray(small_model(resized)["logits"], np.float64)
    expected = np.exp(logits[:, 1:]) / np.exp(logits[:, 1:]).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5)
    shifted = logits.copy()
    shifted[:, 0] += 100.0  # the background logit changes nothing
    np.testing.assert_allclose(known_class_probabilities(shifted), expected, rtol=1e-12)


def reference_score(probabilities, splits):
    """The reference's loop: split i is rows i*N//splits … (i+1)*N//splits."""
    scores = []
    for i in range(splits):
        part = probabilities[i * len(probabilities) // splits:
                             (i + 1) * len(probabilities) // splits]
        kl = part * (np.log(part) - np.log(np.mean(part, 0, keepdims=True)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return np.mean(scores), np.std(scores)


def test_score_shuffles_drops_the_last_partial_batch_and_splits_like_the_reference():
    probabilities = np.random.default_rng(4).dirichlet(np.full(50, 0.3), 150)
    np.testing.assert_allclose(inception_score(probabilities[:25], 10),
                               reference_score(probabilities[:25], 10), rtol=1e-12)
    order = np.random.default_rng(7).permutation(150)[:128]
    np.testing.assert_allclose(birds_inception_score(probabilities, seed=7),
                               reference_score(probabilities[order], 10), rtol=1e-12)
    with pytest.raises(ValueError, match="at least batch_size=64"):
        birds_inception_score(probabilities[:63])
