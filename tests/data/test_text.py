"""The reference's word rules in pure Python (the graph tokenizer is tested against them)."""

from mirrorgan_keras.data.text import tokenize


def test_tokenize_follows_the_reference_rules():
    assert tokenize("A small-bird, with RED wings!!") == [
        "a", "small", "bird", "with", "red", "wings"
    ]
    assert tokenize("café naïve 3rd") == ["caf", "nave", "3rd"]  # non-ASCII dropped in a token
    assert tokenize("snake_case  x") == ["snake_case", "x"]
    assert tokenize("日本 😀 !!") == []  # tokens that become empty are dropped
