"""The FID Inception against the field's own code: pytorch-fid (features, FID) and
torch-fidelity (Inception Score), both run here with the same random weight file."""

import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from mirrorgan_keras.convert import CheckpointConversionError
from mirrorgan_keras.convert.fid_inception import FID_NETWORKS, convert_fid_inception
from mirrorgan_keras.convert.provenance import file_record, sha256
from mirrorgan_keras.evaluation import feature_statistics, frechet_distance, inception_score
from mirrorgan_keras.evaluation.fid_inception import FIDInception, fidelity_inception_score
from mirrorgan_keras.evaluation.protocols import _check_published
from tests.evaluation.test_scoring import ENV, ROOT

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
pytorch_fid_inception = pytest.importorskip("pytorch_fid.inception")
pytorch_fid_score = pytest.importorskip("pytorch_fid.fid_score")
torch_fidelity = pytest.importorskip("torch_fidelity")

SIZE = 64  # generated-image side; the networks see 299 × 299 after the resize
COUNT = 8
LOGIT_SPREAD = 3.0


def randomised_inception(num_classes: int = 1008, aux_logits: bool = False, seed: int = 0):
    """torchvision's Inception-v3 (the FID graph's tensors when 1008 classes, no aux head) with
    He-scaled random weights and batch-norm statistics away from the identity."""
    generator = torch.Generator().manual_seed(seed)
    model = torchvision.models.inception_v3(num_classes=num_classes, aux_logits=aux_logits,
                                            weights=None, init_weights=False)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var") or (name.endswith("weight") and tensor.ndim == 1):
                value = 0.5 + torch.rand(tensor.shape, generator=generator)
            elif tensor.ndim == 1:
                value = 0.1 * torch.randn(tensor.shape, generator=generator)
            else:
                fan_in = tensor[0].numel()
                value = torch.randn(tensor.shape, generator=generator) * (2.0 / fan_in) ** 0.5
            tensor.copy_(value)
    return model.eval()


def classifier_on_deviations(model, images: np.ndarray, seed: int = 0):
    """A random ``fc.weight`` ``[1008, 2048]`` blind to the mean pool feature of ``images``
    (random networks give every image nearly the same features), scaled so that the logits
    vary by about ``LOGIT_SPREAD`` between images: confident, varied classes."""
    pools = []
    hook = model.avgpool.register_forward_hook(lambda module, inputs, output: pools.append(
        output.flatten(1)))
    with torch.no_grad():
        batch = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        model(torch.nn.functional.interpolate(batch, size=(299, 299), mode="bilinear"))
    hook.remove()
    pool = pools[0].double()
    direction = pool.mean(0) / pool.mean(0).norm()
    weight = torch.randn(1008, 2048, generator=torch.Generator().manual_seed(seed)).double()
    weight -= torch.outer(weight @ direction, direction)
    spread = (pool @ weight.T).std(0).mean()
    return (weight * LOGIT_SPREAD / spread).float()


@pytest.fixture(scope="module")
def weight_file(tmp_path_factory, image_sets):
    path = tmp_path_factory.mktemp("fid") / "pt_inception-random.pth"
    model = randomised_inception()
    state = model.state_dict()
    state["fc.weight"] = classifier_on_deviations(model, np.concatenate(image_sets))
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def keras_inception(weight_file):
    return FIDInception(str(weight_file), batch_size=8, verbose=0)


@pytest.fixture(scope="module")
def image_sets():
    rng = np.random.default_rng(0)
    first = rng.integers(0, 256, (COUNT, SIZE, SIZE, 3), dtype=np.uint8)
    smooth = np.repeat(np.repeat(rng.integers(0, 256, (COUNT, SIZE // 8, SIZE // 8, 3)), 8, 1), 8,
                       2)
    return first, smooth.astype(np.uint8)


def as_floats(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 127.5 - 1.0


@pytest.fixture()
def pytorch_fid_model(weight_file, monkeypatch):
    """pytorch-fid's own InceptionV3 (its FID blocks, resize and scaling), reading the random
    weight file where it would download the published one."""
    state = torch.load(weight_file, weights_only=True)
    monkeypatch.setattr(pytorch_fid_inception, "load_state_dict_from_url",
                        lambda *args, **kwargs: state)
    return pytorch_fid_inception.InceptionV3([3]).eval()


def assert_close_to_reference(actual, reference, tolerance=1e-4, scale=None):
    """|actual − ref| ≤ tolerance · max(1, scale), elementwise; scale defaults to |ref|."""
    reference = np.asarray(reference, dtype=np.float64)
    bound = tolerance * np.maximum(1.0, np.abs(reference) if scale is None else scale)
    excess = np.abs(actual - reference) - bound
    assert excess.max() <= 0, f"worst excess {excess.max():.3g} over {tolerance} · max(1, |ref|)"


@pytest.mark.parametrize("side", [SIZE, 320])  # upsampled and downsampled to 299
def test_pool_features_equal_pytorch_fids(keras_inception, pytorch_fid_model, side):
    images = np.random.default_rng(side).integers(0, 256, (4, side, side, 3), dtype=np.uint8)
    with torch.no_grad():
        batch = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
        reference = pytorch_fid_model(batch)[0].squeeze(-1).squeeze(-1).numpy()
    features = keras_inception.pool_features(as_floats(images))
    assert features.shape == (4, 2048)
    assert reference.std() > 1e-2  # the random network does not flatten its input
    assert_close_to_reference(features, reference)


def test_fid_equals_pytorch_fids_on_the_same_png_files(keras_inception, pytorch_fid_model,
                                                       image_sets, tmp_path):
    folders = []
    for name, images in zip(("first", "second"), image_sets, strict=True):
        folder = tmp_path / name
        folder.mkdir()
        for index, image in enumerate(images):
            Image.fromarray(image).save(folder / f"{index:03d}.png")
        folders.append(str(folder))
    reference = pytorch_fid_score.calculate_fid_given_paths(folders, 8, "cpu", 2048,
                                                            num_workers=0)
    statistics = [feature_statistics(keras_inception.pool_features(as_floats(images)))
                  for images in image_sets]
    fid = frechet_distance(*statistics[0], *statistics[1])
    assert reference > 1.0
    np.testing.assert_allclose(fid, reference, rtol=1e-4)


@pytest.fixture(scope="module")
def fidelity_extractor(weight_file):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    return FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                       feature_extractor_weights_path=str(weight_file)).eval()


def test_classifier_logits_equal_torch_fidelitys(keras_inception, fidelity_extractor,
                                                 image_sets):
    images = image_sets[0][:4]
    with torch.no_grad():
        _, reference = fidelity_extractor(torch.from_numpy(images).permute(0, 3, 1, 2))
    logits = keras_inception.classifier_logits(as_floats(images))
    assert logits.shape == (4, 1008)
    # Each logit sums 2,048 products: its float32 round-off follows the row's largest logits,
    # not its own size, so the bound is relative to the row's largest magnitude.
    reference = reference.numpy()
    assert_close_to_reference(logits, reference,
                              scale=np.abs(reference).max(axis=1, keepdims=True))


class _Images(torch.utils.data.Dataset):
    """uint8 ``[3, H, W]`` tensors, as torch-fidelity reads a data set."""

    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return torch.from_numpy(self.images[index]).permute(2, 0, 1).contiguous()


def test_inception_score_equals_torch_fidelitys(keras_inception, weight_file, image_sets):
    images = np.concatenate(image_sets)
    reference = torch_fidelity.calculate_metrics(
        input1=_Images(images), isc=True, isc_splits=4, cuda=False, cache=False,
        verbose=False, batch_size=8, feature_extractor_weights_path=str(weight_file))
    mean, std = fidelity_inception_score(keras_inception.classifier_logits(as_floats(images)),
                                         splits=4)
    assert reference["inception_score_mean"] > 1.5
    np.testing.assert_allclose(mean, reference["inception_score_mean"], rtol=1e-4)
    np.testing.assert_allclose(std, reference["inception_score_std"], rtol=1e-4, atol=1e-6)


def test_fidelity_score_shuffles_with_numpys_permutation_then_splits():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(23, 5)) * 3
    order = np.random.RandomState(7).permutation(23)
    probabilities = np.exp(logits[order])
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    expected = inception_score(probabilities, splits=3)
    assert fidelity_inception_score(logits, splits=3, shuffle_seed=7) == pytest.approx(expected)
    assert fidelity_inception_score(logits, splits=3, shuffle_seed=None) != pytest.approx(
        expected)


def test_the_weights_convert_to_a_keras_file_that_gives_the_same_features(
        keras_inception, weight_file, tmp_path):
    output = tmp_path / "fid_inception.weights.h5"
    convert_fid_inception(weight_file, output)
    images = as_floats(np.random.default_rng(3).integers(0, 256, (2, SIZE, SIZE, 3), np.uint8))
    np.testing.assert_array_equal(
        FIDInception(str(output), verbose=0).pool_features(images),
        keras_inception.pool_features(images))


def test_another_networks_weights_are_refused_with_what_differs(tmp_path):
    path = tmp_path / "inception_v3_imagenet.pth"  # torchvision's: 1000 classes, aux head
    torch.save(randomised_inception(1000, aux_logits=True).state_dict(), path)
    with pytest.raises(CheckpointConversionError) as error:
        FIDInception(str(path), verbose=0)
    message = str(error.value)
    assert str(path) in message and "AuxLogits" in message
    assert "'fc.weight' has shape (1000, 2048)" in message and "(1008, 2048)" in message


def test_truncated_and_foreign_files_are_refused_naming_the_file(weight_file, tmp_path):
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(weight_file.read_bytes()[:100_000])
    with pytest.raises(CheckpointConversionError, match="truncated.pth is not a PyTorch"):
        FIDInception(str(truncated), verbose=0)
    other = tmp_path / "other.weights.h5"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save_weights(other)
    with pytest.raises(CheckpointConversionError, match="other.weights.h5 is not a"):
        FIDInception(str(other), verbose=0)
    statistics = tmp_path / "statistics.npz"
    statistics.write_bytes(b"")
    with pytest.raises(ValueError, match="must be a .pth state dict"):
        FIDInception(str(statistics), verbose=0)


@pytest.fixture(scope="module")
def torchvision_weights(tmp_path_factory):
    """torchvision's ImageNet Inception-v3 state dict (aux head included), random weights."""
    path = tmp_path_factory.mktemp("torchvision") / "inception_v3_google-random.pth"
    model = randomised_inception(1000, aux_logits=True, seed=1)
    torch.save(model.state_dict(), path)
    return path, model


def dfgan_features(model, images: np.ndarray) -> np.ndarray:
    """The FID features of DM-GAN's / DF-GAN's code, written out: [0, 1] images resized to 299
    (bilinear, half-pixel), each channel mapped by x·(std/0.5) + (mean − 0.5)/0.5, then
    torchvision's Inception modules in order and the global average pool."""
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    with torch.no_grad():
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
        x = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear",
                                            align_corners=False)
        x = x * (std / 0.5).view(1, 3, 1, 1) + ((mean - 0.5) / 0.5).view(1, 3, 1, 1)
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1",
                     "Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c",
                     "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
                     "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(model, name)(x)
        return x.mean(dim=(2, 3)).numpy()


def test_torchvision_features_equal_dm_gan_and_df_gans_fid_input(torchvision_weights):
    path, model = torchvision_weights
    images = np.random.default_rng(5).integers(0, 256, (4, SIZE, SIZE, 3), dtype=np.uint8)
    reference = dfgan_features(model, images)
    features = FIDInception(str(path), network="torchvision", verbose=0).pool_features(
        as_floats(images))
    assert reference.std() > 1e-2
    assert_close_to_reference(features, reference)


def test_each_fid_networks_file_is_refused_for_the_other(torchvision_weights, weight_file):
    with pytest.raises(CheckpointConversionError, match="no AuxLogits"):
        FIDInception(str(weight_file), network="torchvision", verbose=0)
    with pytest.raises(CheckpointConversionError, match=r"'fc.weight' has shape \(1000, 2048\)"):
        FIDInception(str(torchvision_weights[0]), network="tf2015", verbose=0)
    inception = FIDInception(None, network="torchvision", verbose=0)
    with pytest.raises(ValueError, match="the 2015 graph's"):
        inception.classifier_logits(np.zeros((1, SIZE, SIZE, 3), np.float32))


def test_the_conversion_recipe_records_its_source_for_the_protocols_check(weight_file,
                                                                         tmp_path):
    output = tmp_path / "fid_inception.weights.h5"
    result = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / "convert_scorers.py"),
         f"--fid_inception={weight_file}", f"--output={output}"],
        capture_output=True, text=True, timeout=600, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    record = file_record(output)
    assert record["converted_from"] == {"path": str(weight_file), "sha256": sha256(weight_file)}
    assert f"→ {output} (SHA-256 {record['sha256']})" in result.stdout
    not_comparable, unverified = [], []
    _check_published(record, FID_NETWORKS["tf2015"], not_comparable, unverified)
    assert not unverified
    assert not_comparable[0].startswith(f"{weight_file} is not the published file")
