"""The examples in docs/*.md run and print what the page says."""

import doctest
import pathlib
import re

import pytest

DOCS = sorted((pathlib.Path(__file__).parent.parent / "docs").glob("*.md"))
FENCE = re.compile(r"```python\n(.*?)```", re.S)


@pytest.mark.parametrize("page", DOCS, ids=[p.name for p in DOCS])
def test_doc_examples(page):
    """Every ``>>>`` example in a page's ```python blocks (the blocks share one namespace)."""
    text = page.read_text()
    blocks = [b for b in FENCE.findall(text) if ">>>" in b]
    globs: dict = {}
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    parser = doctest.DocTestParser()
    for k, block in enumerate(blocks):
        test = parser.get_doctest(block, globs, f"{page.name}[{k}]", str(page), 0)
        runner.run(test, clear_globs=False)
        globs = test.globs  # DocTest copies its globals: carry them to the next block
    assert runner.failures == 0
