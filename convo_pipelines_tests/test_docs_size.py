"""The pages a newcomer reads stay short enough to read: words per page, the longest paragraph, list item or
table cell, all the pages together, and the performance page's length and its cells without a figure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from convo_pipelines_tests.docs_pages import ROOT

PAGES = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])
PERFORMANCE = ROOT / "docs" / "performance.md"
CONTRACT = ROOT / "docs" / "contract.md"

PAGE_MOST_WORDS = 3_000
CONTRACT_MOST_WORDS = 5_000
UNIT_MOST_WORDS = 100
ALL_PAGES_MOST_WORDS = 20_000
PERFORMANCE_MOST_LINES = 150
PERFORMANCE_MOST_WORDS = 2_000
# A run that did not measure something is left out of that table, never shown as a cell saying so.
NOT_MEASURED = re.compile(r"not measured", re.I)
QUOTED_WORDS = 12

FENCE = re.compile(r"^\s*(```|~~~)")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
TABLE_SEPARATOR = re.compile(r"^\s*\|?[\s:|-]+\|?\s*$")


@dataclass(frozen=True)
class Unit:
    """A piece a reader takes in at once: a paragraph, a list item, a table cell, a heading or a code block."""

    kind: str
    text: str

    @property
    def words(self) -> int:
        return word_count(self.text)


def word_count(text: str) -> int:
    """Words as `wc -w` counts them: runs of characters between whitespace."""
    return len(text.split())


def table_cells(line: str) -> list[str]:
    """The cells of a table row; a `|` inside backticks or escaped as `\\|` stays in its cell."""
    row = line.strip().removeprefix("|").removesuffix("|")
    cells, cell, in_code = [], "", False
    index = 0
    while index < len(row):
        char = row[index]
        if char == "\\" and row[index + 1 : index + 2] == "|":
            cell += "|"
            index += 2
            continue
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += char
        index += 1
    cells.append(cell.strip())
    return cells


def units(markdown: str) -> list[Unit]:
    """`markdown` split as a reader meets it. A blank line, a heading, a table row, a fence or a new list item ends
    the unit before it; a line that starts none of those continues it (a list item's wrapped lines included)."""
    found: list[Unit] = []
    kind, lines, code = "", [], None

    def close() -> None:
        nonlocal kind, lines
        if lines:
            found.append(Unit(kind, "\n".join(lines)))
        kind, lines = "", []

    for line in markdown.splitlines():
        if code is not None:
            if FENCE.match(line):
                found.append(Unit("code", "\n".join(code)))
                code = None
            else:
                code.append(line)
        elif FENCE.match(line):
            close()
            code = []
        elif not line.strip():
            close()
        elif line.lstrip().startswith("#"):
            close()
            found.append(Unit("heading", line.strip()))
        elif line.lstrip().startswith("|"):
            close()
            if not TABLE_SEPARATOR.match(line):
                found.extend(Unit("cell", cell) for cell in table_cells(line) if cell)
        elif LIST_ITEM.match(line):
            close()
            kind, lines = "list item", [line.strip()]
        else:
            kind = kind or "paragraph"
            lines.append(line.strip())
    close()
    return found


def longest_unit(markdown: str) -> Unit | None:
    """The longest paragraph, list item or table cell: code blocks and headings are not read as prose."""
    prose = [unit for unit in units(markdown) if unit.kind in {"paragraph", "list item", "cell"}]
    return max(prose, key=lambda unit: unit.words, default=None)


def quoted_start(unit: Unit) -> str:
    return " ".join(unit.text.split()[:QUOTED_WORDS]) + " ..."


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def read(page: Path) -> str:
    return page.read_text(encoding="utf-8")


SAMPLE = """# A title

A paragraph on
two lines.

- a list item
  wrapped on a second line
- another item
1. a numbered item

| column | other |
|---|---:|
| one cell | a cell with `a|b` in code |

```sql
select one, two, three, four, five, six
from a_table;
```
A paragraph right after the fence, the longest prose of the sample.
"""


def test_the_sample_is_split_into_paragraphs_list_items_cells_and_code() -> None:
    assert [(unit.kind, unit.text) for unit in units(SAMPLE)] == [
        ("heading", "# A title"),
        ("paragraph", "A paragraph on\ntwo lines."),
        ("list item", "- a list item\nwrapped on a second line"),
        ("list item", "- another item"),
        ("list item", "1. a numbered item"),
        ("cell", "column"),
        ("cell", "other"),
        ("cell", "one cell"),
        ("cell", "a cell with `a|b` in code"),
        ("code", "select one, two, three, four, five, six\nfrom a_table;"),
        ("paragraph", "A paragraph right after the fence, the longest prose of the sample."),
    ]


def test_the_longest_unit_is_prose_and_words_are_counted_as_wc_does() -> None:
    assert word_count(SAMPLE) == 64
    # The code block holds more words than any paragraph, and is not the longest unit.
    longest = longest_unit(SAMPLE)
    assert longest == Unit("paragraph", "A paragraph right after the fence, the longest prose of the sample.")
    assert longest.words == 12
    assert quoted_start(Unit("paragraph", " ".join(f"w{index}" for index in range(20)))).startswith("w0 w1")
    assert longest_unit("```\nonly code\n```\n") is None


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_no_page_is_longer_than_a_reader_reads(page: Path) -> None:
    most = CONTRACT_MOST_WORDS if page == CONTRACT else PAGE_MOST_WORDS
    words = word_count(read(page))
    assert words <= most, f"{page_id(page)} has {words} words, more than {most}: cut what a reader does not need"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_no_paragraph_list_item_or_table_cell_is_longer_than_100_words(page: Path) -> None:
    too_long = [unit for unit in units(read(page)) if unit.kind != "code" and unit.words > UNIT_MOST_WORDS]
    assert not too_long, f"{page_id(page)}: " + "; ".join(
        f"a {unit.kind} of {unit.words} words: {quoted_start(unit)!r}" for unit in too_long
    )


def test_all_the_pages_together_are_read_in_well_under_two_hours() -> None:
    counts = {page_id(page): word_count(read(page)) for page in PAGES}
    total = sum(counts.values())
    largest = sorted(counts.items(), key=lambda item: -item[1])[:5]
    assert total <= ALL_PAGES_MOST_WORDS, f"the docs hold {total} words, more than {ALL_PAGES_MOST_WORDS}: {largest}"


def test_the_performance_page_is_short_and_shows_only_what_was_measured() -> None:
    text = read(PERFORMANCE)
    lines, words = len(text.splitlines()), word_count(text)
    assert lines <= PERFORMANCE_MOST_LINES, f"docs/performance.md has {lines} lines, more than {PERFORMANCE_MOST_LINES}"
    assert words <= PERFORMANCE_MOST_WORDS, f"docs/performance.md has {words} words, more than {PERFORMANCE_MOST_WORDS}"
    unmeasured = [line for line in text.splitlines() if NOT_MEASURED.search(line)]
    assert not unmeasured, (
        f"docs/performance.md says 'not measured' on {len(unmeasured)} lines: {unmeasured[0][:120]!r}"
    )
