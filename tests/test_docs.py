"""The documentation: README size, relative links, and no reference to files outside the
repository."""

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_LIMIT = 12_000  # bytes
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Written in two parts so that this file does not match itself.
OUTSIDE_REFERENCES = ("shared" + "/reference", "mirrorgan_" + "spec")
CODE_ROOTS = ("mirrorgan_keras", "recipes", "tests", "benchmarks")

_FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The Markdown without fenced code blocks and inline code."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown file."""
    anchors, seen = set(), {}
    for heading in _HEADING.findall(_FENCE.sub("", path.read_text(encoding="utf-8"))):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _relative_links(path: Path) -> list[str]:
    links = _LINK.findall(_prose(path.read_text(encoding="utf-8")))
    return [link for link in links if not re.match(r"^[a-z][a-z0-9+.-]*:", link)]


def test_readme_is_short():
    size = (ROOT / "README.md").stat().st_size
    assert size < README_LIMIT, f"README.md is {size} bytes; move detail into docs/"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(document):
    broken = []
    for link in _relative_links(document):
        target, _, anchor = link.partition("#")
        path = (document.parent / target).resolve() if target else document
        if not path.exists():
            broken.append(f"{link} (no file {path.relative_to(ROOT)})")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{link} (no heading #{anchor})")
    assert not broken, f"{document.name}: broken links: {broken}"


def _files_citing_outside(paths) -> list[str]:
    found = []
    for path in paths:
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        content = path.read_bytes()
        if any(reference.encode() in content for reference in OUTSIDE_REFERENCES):
            found.append(str(path.relative_to(ROOT)))
    return found


def test_docs_cite_nothing_outside_the_repository():
    assert not _files_citing_outside(DOCUMENTS)


def test_code_cites_nothing_outside_the_repository():
    paths = [path for root in CODE_ROOTS for path in (ROOT / root).rglob("*")]
    assert not _files_citing_outside(paths)


def readme_quick_start() -> str:
    """The Python code block of the README's "Python quick start" section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python quick start", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "README.md: no ```python block under 'Python quick start'"
    return match.group(1)


def test_readme_quick_start_runs(tiny_run, tmp_path, monkeypatch, capsys):
    code = readme_quick_start()
    assert len(code.splitlines()) <= 10 and "runs/demo" in code
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    monkeypatch.chdir(tmp_path)
    exec(compile(code.replace("runs/demo", str(run_dir)), "README.md", "exec"), {})
    assert capsys.readouterr().out.startswith("(1, 32, 32, 3) uint8")
    assert (tmp_path / "bird.png").exists()
    assert (run_dir / "export" / "1" / "saved_model.pb").exists()


def test_the_package_layout_names_every_module_recipe_and_benchmark():
    """Each module of the packages it details (not layers/, evaluation/, convert/, described as
    a whole), each recipe and each benchmark is named in docs/layers.md's layout."""
    layout = (ROOT / "docs" / "layers.md").read_text().split("## Package layout")[1]
    files = [*ROOT.glob("mirrorgan_keras/*/*.py"), *ROOT.glob("mirrorgan_keras/*.py"),
             *ROOT.glob("recipes/*.py"), *ROOT.glob("benchmarks/*.py")]
    whole = ("layers", "evaluation", "convert")
    unnamed = [str(path.relative_to(ROOT)) for path in files
               if not path.stem.startswith("_") and path.parent.name not in whole
               and path.stem not in layout]
    assert unnamed == []
