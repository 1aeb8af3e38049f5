"""The project cites only itself: no design note outside the repository, and every doc it names exists."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Folders that are not the project's own text: tools, caches, installs, local data.
SKIPPED = {".git", ".venv", "venv", "node_modules", "instance", "__pycache__", ".pytest_cache", "build", "dist"}
#: Design notes that once lived beside the repository. Spelled in pieces, so that this file does
#: not cite them itself.
OUTSIDE = (
    "../" + "shared",
    "shared/" + "design",
    "shared/" + "seed",
    "ARCHI" + "TECTURE.md",
    "ESIA" + ".md",
    "STYLE" + ".md",
)
#: The design notes' old name, bare ("as the architecture note allows") as well.
BARE_NAME = re.compile(r"\b" + "ARCHI" + "TECTURE" + r"\b")
#: ``docs/esia.md``, ``docs/adr/README.md``; the section after it when one is named in quotes.
DOC_CITATION = re.compile(r"docs/((?:[A-Za-z0-9_-]+/)*[A-Za-z0-9_.-]+\.md)(?:,\s*'([^']+)')?")
#: ``docs/adr/0014``: a decision record by its number.
ADR_CITATION = re.compile(r"docs/adr/([0-9]{4})\b(?!-)")
#: A relative Markdown link: ``[text](target)``.
MARKDOWN_LINK = re.compile(r"\]\((?!https?://|mailto:|#)([^)#\s]+)(?:#[^)]*)?\)")


def project_texts() -> dict[str, str]:
    """Every text file of the project (UTF-8, any name), keyed by its path from the root."""
    texts = {}
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = sorted(name for name in subfolders if name not in SKIPPED and not name.endswith(".egg-info"))
        for file in sorted(files):
            path = Path(folder) / file
            try:
                texts[path.relative_to(ROOT).as_posix()] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:  # certificates, keys and other binary files
                continue
    return texts


TEXTS = project_texts()


def headings(markdown: str) -> set[str]:
    return {line.lstrip("#").strip() for line in markdown.splitlines() if line.startswith("#")}


def test_the_scan_sees_the_code_the_tests_and_the_docs() -> None:
    assert {"broker/__init__.py", "providers/esia.py", "mock_esia/README.md", "README.md", "docs/esia.md"} <= set(TEXTS)
    assert not any(name.startswith(("node_modules/", ".git/")) for name in TEXTS)


def test_no_file_cites_a_design_note_outside_the_repository() -> None:
    offences = [
        f"{name}:{number}: {line.strip()}"
        for name, text in TEXTS.items()
        for number, line in enumerate(text.splitlines(), start=1)
        if any(cited in line for cited in OUTSIDE) or BARE_NAME.search(line)
    ]
    assert offences == []


@pytest.mark.parametrize(
    "line",
    [
        # Spelled in pieces so that this file does not cite them itself.
        "# see ESIA" + ".md §4",
        "The design is in `../" + "shared/" + "design/`",
        "(ARCHI" + "TECTURE allows it)",
        '"""The import rules of STYLE' + '.md."""',
    ],
)
def test_the_outside_check_catches_each_kind_of_citation(line: str) -> None:
    assert any(cited in line for cited in OUTSIDE) or BARE_NAME.search(line)


def test_every_doc_cited_exists_and_so_does_the_section_it_names() -> None:
    missing = []
    for name, text in TEXTS.items():
        for match in DOC_CITATION.finditer(text):
            target = ROOT / "docs" / match.group(1)
            section = match.group(2)
            if not target.is_file():
                missing.append(f"{name}: docs/{match.group(1)}")
            elif section is not None and section not in headings(target.read_text(encoding="utf-8")):
                missing.append(f"{name}: docs/{match.group(1)} has no section {section!r}")
    assert missing == []


def test_every_decision_record_cited_by_number_exists() -> None:
    records = {path.name[:4] for path in (ROOT / "docs" / "adr").glob("[0-9][0-9][0-9][0-9]-*.md")}
    missing = [
        f"{name}: docs/adr/{number}" for name, text in TEXTS.items() for number in ADR_CITATION.findall(text) if number not in records
    ]
    assert missing == []


def test_every_relative_link_in_the_docs_leads_to_a_file() -> None:
    broken = [
        f"{name}: {target}"
        for name, text in TEXTS.items()
        if name.endswith(".md")
        for target in MARKDOWN_LINK.findall(text)
        if not ((ROOT / name).parent / target).exists()
    ]
    assert broken == []


def test_every_decision_record_is_in_the_index() -> None:
    index = (ROOT / "docs" / "adr" / "README.md").read_text(encoding="utf-8")
    records = sorted(path.name for path in (ROOT / "docs" / "adr").glob("[0-9][0-9][0-9][0-9]-*.md"))
    assert records and [record for record in records if f"({record})" not in index] == []
