"""The command blocks of the README and of the docs' first-ten-minutes page, as a reader copies them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
GETTING_STARTED = ROOT / "docs" / "getting-started.md"
# The pages whose every command block a test runs exactly as written.
PAGES_RUN_AS_WRITTEN = (README, GETTING_STARTED)
FENCE = re.compile(r"^(?P<indent> *)```(?P<language>[\w-]*)\n(?P<body>.*?)^(?P=indent)```$", re.M | re.S)
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}


@dataclass(frozen=True)
class Block:
    page: Path
    language: str
    text: str
    # The SQL block that follows a block ending in `psql`: what the page tells the reader to type into it.
    stdin: str | None = None

    @property
    def is_shell(self) -> bool:
        return self.language in SHELL_LANGUAGES


def fenced_blocks(page: Path) -> list[Block]:
    """Every fenced block of `page`, in order, its indentation (a list item's) removed."""
    blocks = []
    for match in FENCE.finditer(page.read_text(encoding="utf-8")):
        indent = len(match["indent"])
        text = "\n".join(line[indent:] for line in match["body"].splitlines())
        blocks.append(Block(page, match["language"], text.strip()))
    return blocks


def shell_blocks(page: Path) -> list[Block]:
    """The shell blocks of `page`; one whose last command is `psql` carries the next SQL block as its input."""
    blocks = fenced_blocks(page)
    shell = []
    for index, block in enumerate(blocks):
        if not block.is_shell:
            continue
        last_command = block.text.splitlines()[-1].split()[0]
        stdin = None
        if last_command == "psql":
            stdin = next((later.text for later in blocks[index + 1 :] if later.language == "sql"), None)
            assert stdin is not None, f"{page.name}: a psql block with no SQL block after it to type into it"
        shell.append(Block(page, block.language, block.text, stdin))
    return shell


def commands_run_as_written() -> list[Block]:
    """Each distinct shell block of the README and the first-ten-minutes page, in reading order."""
    seen: dict[str, Block] = {}
    for page in PAGES_RUN_AS_WRITTEN:
        for block in shell_blocks(page):
            seen.setdefault(block.text, block)
    return list(seen.values())
