"""The field's evaluation protocols for CUB and COCO, in one object each (docs/evaluation.md).

A :class:`Protocol` fixes what the published text-to-image numbers fix: how many images are
generated from the test captions, the Inception Score's network and splits, the FID network
and the R-precision folds. :class:`FieldNetworks` loads the files a protocol needs (checking
each before any image is generated) and scores a generated set with them:

- FID: the 2015 Inception as pytorch-fid computes it, or torchvision's ImageNet Inception as
  DM-GAN's and DF-GAN's code does (:mod:`.fid_inception`), against real-image statistics read
  from an ``.npz`` (``mu``, ``sigma``; e.g. DF-GAN's) or computed from the split's real images;
- Inception Score: CUB, StackGAN's birds Inception (:mod:`.birds_inception`); COCO, the 2015
  Inception's classifier as torch-fidelity feeds it;
- R-precision: the DAMSM encoders the caller gives (AttnGAN's, converted, for the papers').

Every file is recorded with its SHA-256, so a results file says which weights made it.
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import numpy as np

from mirrorgan_keras.convert.fid_inception import FID_NETWORKS, FIDNetwork
from mirrorgan_keras.convert.provenance import file_record, weight_files
from mirrorgan_keras.data import make_dataset
from mirrorgan_keras.data.records import DatasetSplit
from mirrorgan_keras.evaluation._batches import float_batches
from mirrorgan_keras.evaluation.birds_inception import (
    REFERENCE_BATCH,
    birds_inception_probabilities,
    birds_inception_score,
    load_birds_inception,
)
from mirrorgan_keras.evaluation.fid import feature_statistics, frechet_distance, load_statistics
from mirrorgan_keras.evaluation.fid_inception import FIDInception, fidelity_inception_score
from mirrorgan_keras.layers.torch_inception import POOL_FEATURES

FID_NETWORK_DESCRIPTIONS = {
    "tf2015": "the 2015 Inception's 2048-d pool, as pytorch-fid",
    "torchvision": "torchvision's ImageNet Inception-v3 2048-d pool, as DM-GAN's and DF-GAN's code",
}


@dataclasses.dataclass(frozen=True)
class Protocol:
    """One data set's evaluation as the field runs it.

    ``images``: generated from the test split's captions (one random caption of each test
    image per pass, as many passes as needed); ``inception_score``: ``"birds"`` (StackGAN's
    birds Inception) or ``"fid_inception"`` (the 2015 graph, torch-fidelity's input);
    ``splits``: Inception Score splits; ``folds``: R-precision folds (1 + 99 captions);
    ``birds_batch``: the birds scorer's batch, of which it scores only whole ones.
    """

    name: str
    dataset: str
    images: int
    inception_score: str
    splits: int = 10
    folds: int = 10
    birds_batch: int = REFERENCE_BATCH


PROTOCOLS = {
    "cub": Protocol("cub", "cub", 30_000, "birds"),
    "coco": Protocol("coco", "coco", 30_000, "fid_inception"),
}


class ProtocolError(ValueError):
    """A protocol cannot run as asked: a missing file or too few images."""


FID_FILES = {
    "tf2015": "pytorch-fid's pt_inception-2015-12-05-6726825d.pth or its .weights.h5",
    "torchvision": "torchvision's inception_v3_google-0cc3c7bd.pth or its .weights.h5",
}


def check_protocol_files(protocol: Protocol, *, fid_inception: str | None,
                         fid_network: str = "tf2015", is_inception: str | None = None,
                         birds_inception: str | None, real_statistics: str | None,
                         damsm: str, num_images: int) -> None:
    """Raises :class:`ProtocolError` naming every file the protocol lacks (and the flag that
    gives it) or an image count below the protocol's, before anything is loaded (arguments
    as :class:`FieldNetworks`')."""
    needed = {f"--fid_inception ({FID_FILES[fid_network]})": fid_inception,
              "--damsm_weights (the DAMSM encoders)": damsm}
    if protocol.inception_score == "birds":
        needed["--birds_inception (StackGAN's birds_valid299/model.ckpt-5000 or its "
               ".weights.h5)"] = birds_inception
    elif fid_network != "tf2015" or is_inception is not None:
        needed[f"--is_inception ({FID_FILES['tf2015']}, for the Inception Score)"] = (
            is_inception)
    if real_statistics is not None:
        needed["--real_statistics (an .npz with mu and sigma)"] = real_statistics
    problems = [f"{flag}: {'not given' if path is None else f'{path} does not exist'}"
                for flag, path in needed.items() if path is None or not weight_files(path)]
    if num_images < protocol.images:
        problems.append(f"--num_images {num_images}: the {protocol.name} protocol generates "
                        f"{protocol.images:,} images (leave --num_images out)")
    if problems:
        raise ProtocolError(f"the {protocol.name} protocol cannot run:\n  "
                            + "\n  ".join(problems))


def checked_statistics(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The FID statistics of ``path``, refused unless they are the 2048-d pool's."""
    try:
        mu, sigma = load_statistics(str(path))
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ProtocolError(f"{path} is not a readable .npz of FID statistics ({error}); "
                            "expected arrays mu [2048] and sigma [2048, 2048]") from None
    if mu.shape != (POOL_FEATURES,):
        raise ProtocolError(f"{path} holds statistics of {mu.shape[0]}-d features; FID uses "
                            f"the Inception's {POOL_FEATURES}-d pool (mu [{POOL_FEATURES}], "
                            f"sigma [{POOL_FEATURES}, {POOL_FEATURES}])")
    return mu, sigma


class FieldNetworks:
    """The networks of a protocol, loaded (and so checked) before any image is generated.

    Args:
        protocol: the protocol.
        fid_inception: the FID network's weight file (``.pth`` or its ``.weights.h5``).
        fid_network: ``"tf2015"`` (pytorch-fid's FID) or ``"torchvision"`` (DM-GAN's, DF-GAN's
            and GALIP's), see :mod:`.fid_inception`.
        is_inception: the 2015 Inception for COCO's Inception Score; default ``fid_inception``
            when that is the 2015 graph.
        birds_inception: StackGAN's birds Inception (CUB only).
        real_statistics: FID statistics ``.npz`` of the real images; None: computed from the
            real images of the generated set.
        verbose: progress bars.
    """

    def __init__(self, protocol: Protocol, *, fid_inception: str, fid_network: str = "tf2015",
                 is_inception: str | None = None, birds_inception: str | None = None,
                 real_statistics: str | None = None, verbose: int = 1):
        self.protocol = protocol
        self.fid_network = fid_network
        self.files = {"fid_inception": file_record(fid_inception)}
        self.statistics = None
        if real_statistics is not None:
            self.statistics = checked_statistics(real_statistics)
            self.files["real_statistics"] = file_record(real_statistics)
        self.fid_inception = FIDInception(fid_inception, network=fid_network, verbose=verbose)
        self.birds = self.is_inception = None
        if protocol.inception_score == "birds":
            self.birds = load_birds_inception(birds_inception)
            self.files["birds_inception"] = file_record(birds_inception)
        elif is_inception is None and fid_network == "tf2015":
            self.is_inception = self.fid_inception
        else:
            self.is_inception = FIDInception(is_inception, verbose=verbose)
            self.files["is_inception"] = file_record(is_inception)

    def scores(self, images: np.ndarray, real_images: np.ndarray) -> dict:
        """IS and FID of uint8 ``images`` ``[N, S, S, 3]``; the FID's reference is the
        statistics file, else ``real_images`` (uint8)."""
        if self.birds is not None:
            mean, std = birds_inception_score(
                birds_inception_probabilities(self.birds, images), splits=self.protocol.splits,
                batch_size=self.protocol.birds_batch)
        else:
            mean, std = fidelity_inception_score(
                self.is_inception.classifier_logits(float_batches(images)), self.protocol.splits)
        features = self.fid_inception.pool_features
        reference = self.statistics
        if reference is None:
            reference = feature_statistics(features(float_batches(real_images)))
        generated = feature_statistics(features(float_batches(images)))
        return {"inception_score": mean, "inception_score_std": std,
                "fid": frechet_distance(*generated, *reference)}

    def caveats(self, dataset: str) -> dict[str, list[str]]:
        """What keeps these numbers from standing beside a paper's (``not_comparable``) and
        what could not be checked (``unverified``), for a run trained on ``dataset``."""
        not_comparable, unverified = [], []
        if dataset != self.protocol.dataset:
            not_comparable.append(f"the run's data set is {dataset!r}, the protocol's "
                                  f"{self.protocol.dataset!r}")
        networks = {"fid_inception": self.fid_network, "is_inception": "tf2015"}
        for role, network in networks.items():
            if role in self.files:
                _check_published(self.files[role], FID_NETWORKS[network], not_comparable,
                                 unverified)
        if self.statistics is None:
            unverified.append("FID against statistics of the real images computed here, not "
                              "a published statistics file")
        return {"not_comparable": not_comparable, "unverified": unverified}

    def description(self) -> dict:
        """The protocol and its files, for the results JSON."""
        inception_score = ("StackGAN's birds Inception (50 classes, background dropped)"
                           if self.birds is not None else
                           "the 2015 Inception's 1008 unbiased logits, as torch-fidelity")
        return {
            **dataclasses.asdict(self.protocol),
            "inception_score_network": inception_score,
            "fid_network": FID_NETWORK_DESCRIPTIONS[self.fid_network],
            "fid_reference": ("statistics file" if self.statistics is not None else
                              "the real images whose captions were drawn"),
            "files": self.files,
        }


def _check_published(record: dict, network: FIDNetwork, not_comparable: list,
                     unverified: list) -> None:
    """Notes a file (or the source of a conversion) whose SHA-256 is not a published file's,
    and a conversion whose source was not recorded."""
    source = record if record["path"].endswith(".pth") else record.get("converted_from")
    if source is None:
        unverified.append(f"{record['path']}: a conversion whose source was not recorded "
                          "(recipes/convert_scorers.py records it)")
    elif not source["sha256"].startswith(network.published_sha256_prefixes):
        expected = " or ".join(f"{prefix}…" for prefix in network.published_sha256_prefixes)
        not_comparable.append(f"{source['path']} is not the published file of {network.module} "
                              f"(SHA-256 {source['sha256'][:8]}…, expected {expected})")


def real_image_statistics(records: DatasetSplit, fid_inception: FIDInception, *,
                          image_size: int, words_num: int, batch_size: int = 50
                          ) -> tuple[np.ndarray, np.ndarray]:
    """FID statistics (``mu [2048]``, ``sigma [2048, 2048]``) of every image of ``records``,
    each given as the evaluation gives the real images: centre-cropped and resized to
    ``image_size`` by the data pipeline, on the 8-bit grid (:mod:`.fid_inception`)."""
    batches = make_dataset(records, batch_size, (image_size,), words_num, training=False,
                           epochs=1)
    return feature_statistics(fid_inception.pool_features(batches))
