"""The field's protocols: files checked before generation, provenance, and the scores of a run
with the protocol's networks (random weights)."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

from mirrorgan_keras.convert.fid_inception import FID_NETWORKS
from mirrorgan_keras.convert.provenance import file_record, sha256
from mirrorgan_keras.data import make_dataset
from mirrorgan_keras.evaluation import (
    feature_statistics,
    frechet_distance,
    save_statistics,
    scoring,
)
from mirrorgan_keras.evaluation.fid_inception import FIDInception, fidelity_inception_score
from mirrorgan_keras.evaluation.protocols import (
    PROTOCOLS,
    FieldNetworks,
    Protocol,
    ProtocolError,
    _check_published,
    check_protocol_files,
    checked_statistics,
)
from mirrorgan_keras.layers.slim_inception import slim_inception_v3
from tests.evaluation.test_scoring import ENV, ROOT

SMALL_CUB = Protocol("cub", "cub", images=16, inception_score="birds", splits=2, folds=2,
                     birds_batch=8)


@pytest.fixture(scope="module")
def network_files(tmp_path_factory):
    """Random-weight files of the FID Inception and the birds Inception."""
    root = tmp_path_factory.mktemp("networks")
    fid = root / "fid_inception.weights.h5"
    FIDInception(None, verbose=0).network.save_weights(fid)
    birds = root / "birds_inception.weights.h5"
    slim_inception_v3().save_weights(birds)
    return str(fid), str(birds)


def test_every_missing_file_and_a_short_count_are_named_at_once(tmp_path):
    damsm = tmp_path / "damsm.weights.h5"
    with pytest.raises(ProtocolError) as error:
        check_protocol_files(PROTOCOLS["cub"], fid_inception=None,
                             birds_inception=str(tmp_path / "model.ckpt-5000"),
                             real_statistics=str(tmp_path / "bird_val256.npz"),
                             damsm=str(damsm), num_images=600)
    message = str(error.value)
    for expected in ("--fid_inception (pytorch-fid's", "not given",
                     f"{tmp_path / 'model.ckpt-5000'} does not exist",
                     f"{tmp_path / 'bird_val256.npz'} does not exist", f"{damsm} does not exist",
                     "--num_images 600: the cub protocol generates 30,000 images"):
        assert expected in message


def test_coco_needs_no_birds_inception_and_a_checkpoint_prefix_counts_as_present(tmp_path):
    fid, damsm = tmp_path / "fid.pth", tmp_path / "damsm.weights.h5"
    fid.write_bytes(b"x")
    damsm.write_bytes(b"y")
    check_protocol_files(PROTOCOLS["coco"], fid_inception=str(fid), birds_inception=None,
                         real_statistics=None, damsm=str(damsm), num_images=30_000)
    (tmp_path / "model.ckpt-5000.index").write_bytes(b"index")
    (tmp_path / "model.ckpt-5000.data-00000-of-00001").write_bytes(b"data")
    check_protocol_files(PROTOCOLS["cub"], fid_inception=str(fid),
                         birds_inception=str(tmp_path / "model.ckpt-5000"), real_statistics=None,
                         damsm=str(damsm), num_images=30_000)
    assert sha256(tmp_path / "model.ckpt-5000") == hashlib.sha256(b"dataindex").hexdigest()
    assert sha256(fid) == hashlib.sha256(b"x").hexdigest()


def test_truncated_statistics_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "bird_val256_FIDK0.npz"
    save_statistics(str(path), np.zeros(2048), np.eye(2048))
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ProtocolError, match=r"bird_val256_FIDK0.npz is not a readable .npz"):
        checked_statistics(path)


def test_statistics_of_another_dimension_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "pool3_768.npz"
    save_statistics(str(path), np.zeros(768), np.eye(768))
    with pytest.raises(ProtocolError, match=r"pool3_768.npz holds statistics of 768-d features"):
        checked_statistics(path)


def test_a_run_scored_with_the_protocols_networks(run, network_files, tmp_path):
    run_dir, config, test = run
    fid, birds = network_files
    rng = np.random.default_rng(0)
    statistics = tmp_path / "real.npz"
    mu, sigma = rng.normal(size=2048), np.cov(rng.normal(size=(3000, 2048)), rowvar=False)
    save_statistics(str(statistics), mu, sigma)
    field = FieldNetworks(SMALL_CUB, fid_inception=fid, birds_inception=birds,
                          real_statistics=str(statistics), verbose=0)
    results = scoring.evaluate_run(run_dir, test, config, count=SMALL_CUB.images, seed=0,
                                   splits=2, folds=2, skip_attributes=True, work_dir=tmp_path,
                                   verbose=0, field=field)
    generated = np.load(tmp_path / "generated.npy")
    features = field.fid_inception.pool_features(generated / 127.5 - 1.0)
    assert results["fid"] == pytest.approx(
        frechet_distance(*feature_statistics(features), mu, sigma), rel=1e-6)
    assert 1.0 <= results["inception_score"] <= 50.0
    inception = results["protocol"]["inception"]
    assert inception["name"] == "cub" and inception["images"] == 16
    assert inception["files"]["real_statistics"]["sha256"] == sha256(statistics)
    assert inception["files"]["birds_inception"]["path"] == birds
    assert inception["not_comparable"] == [
        "the run's data set is 'synthetic_birds', the protocol's 'cub'"]
    assert inception["unverified"][0] == (
        f"{fid}: a conversion whose source was not recorded (recipes/convert_scorers.py "
        "records it)")
    table = scoring.format_results(results)
    assert "Inception Score (cub protocol: StackGAN's birds Inception" in table
    assert "FID (the 2015 Inception's 2048-d pool, as pytorch-fid) vs the statistics file" in table
    assert f"birds_inception: {birds} (SHA-256 {sha256(birds)[:16]}…)" in table
    assert "Not comparable with published numbers: the run's data set" in table
    json.dumps(results)


def test_evaluate_recipe_names_the_missing_files_before_generating(run, tmp_path):
    run_dir = run[0]
    result = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / "evaluate.py"), f"--run_dir={run_dir}",
         "--protocol=cub", f"--fid_inception={tmp_path / 'pt_inception.pth'}",
         f"--output={tmp_path / 'results.json'}"],
        capture_output=True, text=True, timeout=600, env=ENV)
    assert result.returncode != 0
    assert "the cub protocol cannot run" in result.stderr
    assert f"{tmp_path / 'pt_inception.pth'} does not exist" in result.stderr
    assert "--birds_inception (StackGAN's birds_valid299/model.ckpt-5000" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (run_dir / "evaluation" / "cub").exists()


def test_coco_with_dm_gans_fid_network_needs_the_2015_graph_for_its_score(tmp_path):
    fid, damsm = tmp_path / "inception_v3_google.pth", tmp_path / "damsm.weights.h5"
    for path in (fid, damsm):
        path.write_bytes(b"x")
    with pytest.raises(ProtocolError, match=r"--is_inception \(pytorch-fid's .*not given"):
        check_protocol_files(PROTOCOLS["coco"], fid_inception=str(fid),
                             fid_network="torchvision", birds_inception=None,
                             real_statistics=None, damsm=str(damsm), num_images=30_000)


def test_a_pth_that_is_not_the_published_file_makes_the_numbers_not_comparable(tmp_path):
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"  # the name, not the content
    path.write_bytes(b"not the published tensors")
    not_comparable, unverified = [], []
    _check_published(file_record(path), FID_NETWORKS["tf2015"], not_comparable, unverified)
    assert not unverified
    assert not_comparable == [
        f"{path} is not the published file of {FID_NETWORKS['tf2015'].module} (SHA-256 "
        f"{sha256(path)[:8]}…, expected 6726825d…)"]


def test_coco_scores_with_the_torchvision_fid_and_the_2015_graphs_score(network_files,
                                                                         tmp_path):
    torchvision_file = tmp_path / "torchvision.weights.h5"
    FIDInception(None, network="torchvision", verbose=0).network.save_weights(torchvision_file)
    protocol = Protocol("coco", "coco", images=8, inception_score="fid_inception", splits=2)
    field = FieldNetworks(protocol, fid_inception=str(torchvision_file),
                          fid_network="torchvision", is_inception=network_files[0], verbose=0)
    rng = np.random.default_rng(4)
    generated, real = (rng.integers(0, 256, (count, 64, 64, 3), np.uint8) for count in (8, 6))
    scores = field.scores(generated, real)
    assert field.fid_inception.network_name == "torchvision"
    assert (scores["inception_score"], scores["inception_score_std"]) == pytest.approx(
        fidelity_inception_score(field.is_inception.classifier_logits(generated / 127.5 - 1.0),
                                 splits=2), rel=1e-6)
    features = [field.fid_inception.pool_features(images / 127.5 - 1.0)
                for images in (generated, real)]
    assert scores["fid"] == pytest.approx(frechet_distance(
        *feature_statistics(features[0]), *feature_statistics(features[1])), rel=1e-6)
    description = field.description()
    assert description["fid_network"].startswith("torchvision's ImageNet Inception-v3")
    assert description["files"]["is_inception"]["path"] == network_files[0]


def test_the_statistics_recipe_writes_those_of_the_evaluation_crops(run, network_files,
                                                                     tmp_path):
    _, config, test = run
    output = tmp_path / "test64.npz"
    result = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / "fid_statistics.py"), "--preset=birds_tiny",
         f"--data_dir={config.data.data_dir}", f"--fid_inception={network_files[0]}",
         f"--output={output}", "--verbose=0"],
        capture_output=True, text=True, timeout=600, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"12 test images at 64² → {output}" in result.stdout
    mu, sigma = checked_statistics(output)
    crops = np.concatenate([batch["images"][0] for batch in make_dataset(
        test, 5, (64,), 18, training=False, epochs=1)])
    assert len(crops) == len(test)
    expected = feature_statistics(FIDInception(network_files[0], verbose=0).pool_features(crops))
    np.testing.assert_allclose(mu, expected[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(sigma, expected[1], rtol=1e-4, atol=1e-9)
