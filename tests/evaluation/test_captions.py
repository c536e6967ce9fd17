"""Scoring captions a user writes (evaluation/captions.py), the held-out phrasing set, and
``recipes/evaluate.py --captions``."""

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mirrorgan_keras import evaluation
from mirrorgan_keras.data import synthetic_birds as sb
from mirrorgan_keras.data.text import tokenize
from mirrorgan_keras.evaluation import captions as scored_captions
from mirrorgan_keras.evaluation.attributes import NOT_MENTIONED, ORACLE_ATTRIBUTES, read_caption
from mirrorgan_keras.models.text_to_image import TextToImage

ROOT = Path(__file__).resolve().parents[2]
ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": "",
       **{name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ}}

_COLOUR = "(" + "|".join(sb.COLOURS) + ")"
_PART = "(crown|head|cap|wings?|belly|breast|chest|underside|abdomen)"
# Each family's sentence structure, on the tokenized caption: every caption of the family has
# it, no caption of the synthetic caption generator does.
FAMILY_PATTERNS = {
    "its_clauses": r"^its ",  # starts with an "its <part> is <colour>" clause
    "the_clauses": rf"\bthe {_PART}\b",  # "the <part> is <colour>"
    "verbless_list": r"^(?!.*\b(has|with|is|are)\b)",  # no verb, no "with"
    "colour_on_part": rf"\b{_COLOUR} on (the|its) {_PART}\b",
    "with_its": rf"\bits {_PART} {_COLOUR}\b",  # "its <part> <colour>", no verb
    "compound_adjective": rf"\bis (an? )?{_COLOUR} crowned\b",  # not opening the caption
    "synonym_predicates": r"\bits (cap|chest|underside|abdomen|wing feathers) (is|are)\b",
}


def normalised(caption: str) -> str:
    return " ".join(tokenize(caption))


@pytest.fixture(scope="module")
def generated_captions():
    """30,000 captions of the synthetic caption generator (3,000 random birds × 10, every
    template), normalised as the tokenizer does."""
    captions = set()
    for seed in range(3000):
        rng = np.random.default_rng(seed)
        attributes = sb.BirdAttributes(**{name: str(rng.choice(values)) for name, values
                                          in sb.ATTRIBUTE_VOCABULARIES.items()})
        captions.update(normalised(c) for c in sb.describe_bird(attributes, rng, 10))
    return captions


@pytest.fixture(scope="module")
def heldout():
    """The held-out set: [(family, caption, the colours of its block's comment)]."""
    entries, colours = [], None
    for line in evaluation.HELDOUT_PHRASINGS.read_text().splitlines():
        block = re.fullmatch(r"# crown (\w+), wing (\w+), belly (\w+)", line)
        if block:
            colours = dict(zip(sb.COLOUR_PARTS, block.groups(), strict=True))
        elif line and not line.startswith("#"):
            family, caption = line.split("\t")
            entries.append((family, caption, colours))
    return entries


def test_the_generator_never_produces_a_heldout_caption_or_family(generated_captions, heldout):
    assert any(c.startswith("a") and " crowned bird " in c for c in generated_captions)
    assert any(" and its " in c for c in generated_captions)  # the templates all occur
    assert any(c.startswith("a mostly ") for c in generated_captions)
    assert not {normalised(caption) for _, caption, _ in heldout} & generated_captions
    assert {family for family, _, _ in heldout} == set(FAMILY_PATTERNS)
    for family, pattern in FAMILY_PATTERNS.items():
        assert all(re.search(pattern, normalised(caption))
                   for name, caption, _ in heldout if name == family), family
        produced = [c for c in generated_captions if re.search(pattern, c)]
        assert not produced, f"the generator produces {family}: {produced[:3]}"


def test_heldout_captions_use_only_the_synthetic_vocabulary(generated_captions, heldout):
    vocabulary = {word for caption in generated_captions for word in caption.split()}
    for _, caption, _ in heldout:
        assert set(tokenize(caption)) <= vocabulary, caption
        assert len(tokenize(caption)) <= sb.MAX_CAPTION_WORDS


def test_heldout_captions_are_read_as_the_test_classes_colours(heldout, tmp_path):
    info = sb.generate_synthetic_birds(tmp_path / "demo", num_train=150, num_test=50,
                                       image_size=32, num_workers=1)  # the demo's classes
    test_classes = {tuple(name.split(".")[1].split("_")[0::2]) for name in info.test_classes}
    for family in FAMILY_PATTERNS:
        written = [colours for name, _, colours in heldout if name == family]
        assert len(written) == 50
        assert {tuple(c[p] for p in sb.COLOUR_PARTS) for c in written} == test_classes
    for family, caption, colours in heldout:
        reading = read_caption(caption)
        assert reading.attributes == colours and not reading.unread, (family, caption)
    captions, families = evaluation.read_caption_file(evaluation.HELDOUT_PHRASINGS)
    assert captions == [caption for _, caption, _ in heldout]
    assert families == [family for family, _, _ in heldout]


def test_heldout_families_put_each_part_first():
    captions, families = evaluation.read_caption_file(evaluation.HELDOUT_PHRASINGS)
    for family in ("its_clauses", "the_clauses", "verbless_list", "colour_on_part", "with_its"):
        orders = {tuple(sorted(read_caption(c).positions, key=read_caption(c).positions.get))
                  for c, f in zip(captions, families, strict=True) if f == family}
        assert orders == set(itertools.permutations(sb.COLOUR_PARTS)), family


@pytest.mark.parametrize(
    "caption, expected",
    [
        ("its belly is white, its crown is red and its wings are blue.",
         {"belly": "white", "crown": "red", "wing": "blue"}),
        ("the cap is red and the wing feathers are blue.", {"crown": "red", "wing": "blue"}),
        ("this bird is red on the head and white on its breast.",
         {"crown": "red", "belly": "white"}),
        ("a bird with its crown red and its tail long.", {"crown": "red", "tail": "long"}),
        ("this bird is red crowned with a white breast.", {"crown": "red", "belly": "white"}),
        ("the bird is blue.", {}),  # a colour of no part: "unread" below
    ],
)
def test_read_caption_reads_the_heldout_constructions(caption, expected):
    assert read_caption(caption).attributes == expected


def test_read_caption_says_where_and_what_it_could_not_read():
    reading = read_caption("a red and blue bird with a white belly")
    assert reading.attributes == {"belly": "white"} and reading.unread == ("red", "blue")
    assert reading.positions == {"belly": 7} and reading.words[7] == "white"
    assert read_caption("the bird has a red crown").unread == ()


def test_read_caption_file_takes_families_comments_and_plain_lines(tmp_path):
    path = tmp_path / "captions.txt"
    path.write_text("# a comment\nfirst\tits crown is red\n\n  a bird with blue wings  \n")
    assert evaluation.read_caption_file(path) == (
        ["its crown is red", "a bird with blue wings"], ["first", scored_captions.UNTAGGED])


def test_swapped_caption_exchanges_crown_and_belly_colours_with_their_articles():
    reading = read_caption("this bird has an orange crown, blue wings and a white belly.")
    swapped = scored_captions.swapped_caption(reading)
    assert swapped == "this bird has a white crown blue wings and an orange belly"
    assert read_caption(swapped).attributes == {"crown": "white", "wing": "blue",
                                                "belly": "orange"}


def _labels(**columns):
    """Labels / predictions {attribute: int [M]} from colour names, NOT_MENTIONED for None."""
    rows = len(next(iter(columns.values())))
    labels = {name: np.full(rows, NOT_MENTIONED) for name in ORACLE_ATTRIBUTES}
    for name, values in columns.items():
        labels[name] = np.array([NOT_MENTIONED if v is None else sb.COLOURS.index(v)
                                 for v in values])
    return labels


def test_part_scores_and_swap_arithmetic():
    labels = _labels(crown=["red", "red", "blue", None], wing=["blue"] * 4,
                     belly=["white", "white", "red", "white"])
    predicted = _labels(crown=["red", "blue", "red", "grey"], wing=["blue", "red", "grey", "red"],
                        belly=["white", "red", "red", "blue"])
    scores = scored_captions.part_scores(predicted, labels)
    assert scores["images"] == 4 and scores["counted"]["crown"] == 3
    assert scores["right"]["crown"] == pytest.approx(1 / 3)  # rows 0 (right), 1, 2 (misplaced)
    assert scores["misplaced"]["crown"] == pytest.approx(2 / 3)
    assert scores["right"]["wing"] == pytest.approx(1 / 4)
    assert scores["misplaced"]["wing"] == pytest.approx(1 / 4)  # row 1; row 3 names no red
    assert scores["right"]["belly"] == pytest.approx(2 / 4)
    assert scores["misplaced"]["belly"] == pytest.approx(2 / 4)  # rows 1 (crown) and 3 (wing)
    swapped = _labels(crown=["white", "white", "red", "white"], wing=["blue"] * 4,
                      belly=["red", "blue", "blue", "red"])
    follows = scored_captions.swap_follows(predicted, swapped, labels)
    assert follows.tolist() == [True, False, False, False]


class StubOracle:
    """Reads every image as a red crown, blue wings and a white belly (the rest label 0), and
    counts the images it was shown."""

    def __init__(self):
        self.images = 0

    def predict_on_batch(self, images):
        self.images += len(images)
        seen = {"crown": "red", "wing": "blue", "belly": "white"}
        return {name: np.eye(len(sb.ATTRIBUTE_VOCABULARIES[name]))[
            np.full(len(images), sb.COLOURS.index(seen[name]) if name in seen else 0)]
            for name in ORACLE_ATTRIBUTES}


CAPTIONS = [
    ("its_clauses", "its crown is red, its wings are blue and its belly is white."),
    ("its_clauses", "its crown is white, its wings are blue and its belly is red."),
    ("plain", "this bird has a blue crown and a red belly."),
    ("plain", "a bird with a zebra crown."),  # a word outside the vocabulary
    ("plain", "a red and blue bird."),  # colours of no part
    ("plain", "a bird with a red crown, and its head is blue."),  # two crown colours
    ("plain", "a bird."),  # nothing to read
]


def test_score_captions_counts_reports_and_scores_against_the_oracle(run):
    model = TextToImage.from_run(run[0])
    oracle = StubOracle()
    report = evaluation.score_captions(model, oracle, [c for _, c in CAPTIONS],
                                       [f for f, _ in CAPTIONS], num_samples=2, seed=3)
    assert (report["captions"], report["scored"], report["num_samples"]) == (7, 3, 2)
    assert oracle.images == 3 * 2 + 3 * 2  # the scored images and their swapped twins
    reasons = {entry["index"]: " ".join(entry["reasons"]) for entry in report["unreadable"]}
    assert sorted(reasons) == [3, 4, 5, 6]
    assert "vocabulary: zebra" in reasons[3] and "no part's: red, blue" in reasons[4]
    assert "crown is red and blue" in reasons[5] and "no attribute" in reasons[6]
    its = report["families"]["its_clauses"]
    assert its["captions"] == 2 and its["images"] == 4
    # caption 1 (white crown, red belly) is read as red crown, white belly: both misplaced
    assert its["right"]["crown"] == 0.5 and its["misplaced"]["crown"] == 0.5
    assert its["right"]["belly"] == 0.5 and its["misplaced"]["belly"] == 0.5
    assert its["right"]["wing"] == 1.0 and its["swap"] == {"pairs": 4, "both_follow": 0.0}
    everything = report["all"]
    assert everything["captions"] == 3 and everything["counted"]["wing"] == 4
    # caption 2 (blue crown, red belly, no wing): the red crown is misplaced, the white belly
    # is a colour it does not name
    assert everything["right"]["crown"] == pytest.approx(2 / 6)
    assert everything["misplaced"]["crown"] == pytest.approx(4 / 6)
    assert everything["right"]["belly"] == pytest.approx(2 / 6)
    assert everything["misplaced"]["belly"] == pytest.approx(2 / 6)
    assert report["families"]["plain"]["captions"] == 1
    again = evaluation.score_captions(model, StubOracle(), [c for _, c in CAPTIONS],
                                      num_samples=2, seed=3)
    assert set(again["families"]) == {scored_captions.UNTAGGED}
    table = evaluation.format_caption_report(report)
    assert "3 of 7 captions scored" in table and "Not scored (4):" in table
    json.dumps(report)  # the recipe writes it as JSON


def test_swapped_twins_use_the_captions_noise(run):
    model = TextToImage.from_run(run[0])
    drawn = []
    generate = model.graph.generate_from_noise

    class Recorder:
        def __call__(self, captions, noise, condition_noise):
            drawn.append((captions.numpy().tolist(), noise.copy(), condition_noise.copy()))
            return generate(captions, noise, condition_noise)

    model.graph.generate_from_noise = Recorder()
    evaluation.score_captions(model, StubOracle(), [c for _, c in CAPTIONS[:3]], num_samples=2)
    (originals, noise, condition), (twins, twin_noise, twin_condition) = drawn
    assert len(originals) == len(twins) == 6
    assert twins[0] == b"its crown is white its wings are blue and its belly is red"
    np.testing.assert_array_equal(twin_noise, noise)
    np.testing.assert_array_equal(twin_condition, condition)
    assert not np.array_equal(noise[0], noise[1])  # each sample its own noise


@pytest.mark.slow
def test_evaluate_recipe_scores_a_caption_file(run, oracle_file, tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("".join(f"{family}\t{caption}\n" for family, caption in CAPTIONS))
    result = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / "evaluate.py"), f"--run_dir={run[0]}",
         f"--captions={path}", "--samples_per_caption=2", f"--oracle={oracle_file}",
         f"--output={tmp_path / 'report.json'}", "--verbose=0"],
        capture_output=True, text=True, timeout=600, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "3 of 7 captions scored, 2 images each" in result.stdout
    assert "its_clauses" in result.stdout and "'a bird with a zebra crown.'" in result.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["all"]["images"] == 6 and report["oracle"] == oracle_file
