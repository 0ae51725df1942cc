"""The tutorials in docs/ run: every ```python block of a document is executed in order in
one shared namespace (the blocks assert what the text claims), and every file the text
points to exists."""

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["docs/autograd.md", "docs/kernels.md"]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
# Paths like `minigrad/autograd.py`, `csrc/pool.pyx`, `tests/test_sanity.py`, `docs/x.svg`.
_PATH = re.compile(r"`((?:minigrad|csrc|tests|docs|examples|benchmarks)/[\w./-]+\.(?:pyx|pxi|py|h|md|svg))`")


def _blocks(doc: str) -> list[tuple[int, str]]:
    text = (ROOT / doc).read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in _BLOCK.finditer(text)]


@pytest.mark.parametrize("doc", DOCS)
def test_doc_snippets_run(doc):
    blocks = _blocks(doc)
    assert len(blocks) >= 5, f"{doc}: expected a tutorial with code, found {len(blocks)} blocks"
    if any("import torch" in code for _, code in blocks):
        pytest.importorskip("torch")
    namespace: dict = {"__name__": f"docs_{Path(doc).stem}"}
    for line, code in blocks:
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"{doc}:{line}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(
                f"{doc}: the python block at line {line} failed: {exc!r}\n{code}\n"
                f"--- output:\n{out.getvalue()}"
            ) from exc


@pytest.mark.parametrize("doc", DOCS + ["README.md"])
def test_doc_points_to_real_files(doc):
    text = (ROOT / doc).read_text(encoding="utf-8")
    # `code` paths are relative to the repository; markdown links to the document's folder.
    missing = [p for p in _PATH.findall(text) if not (ROOT / p).exists()]
    for link in re.findall(r"\]\(([\w./-]+\.(?:md|svg|py))\)", text):
        if not ((ROOT / doc).parent / link).exists():
            missing.append(link)
    assert not missing, f"{doc} points to files that do not exist: {sorted(set(missing))}"


def test_readme_links_the_learning_material():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/autograd.md" in text and "docs/kernels.md" in text and "docs/graph_mlp.svg" in text


def test_readme_quick_start_trains():
    (code,) = [c for _, c in _blocks("README.md")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    accuracy = float(out.getvalue().split("accuracy")[1].strip().rstrip("%"))
    assert accuracy > 95, out.getvalue()
