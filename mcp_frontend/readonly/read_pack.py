"""read_pack: bounded slices of files around symbol definitions or keyword hits, with line numbers."""

import re
from pathlib import Path

from pydantic import BaseModel, Field

from mcp_frontend.errors import InvalidArgument, RequestTooLarge
from mcp_frontend.readonly.files import list_files, read_text, resolve_all, shown
from mcp_frontend.repo_paths import link_target

DEFAULT_MAX_BYTES = 16 * 1024
MAX_BYTES_CAP = 200 * 1024
MIN_MAX_BYTES = 256
MAX_PATHS = 50
MAX_TERMS = 50
MAX_FILES = 500  # files looked at after folders are expanded
MAX_CONTEXT = 50
MAX_BLOCK_LINES = 200  # longest definition body shown
LINE_MAX_CHARS = 500
INDENT_LANGUAGES = {".py", ".pyi", ".rb", ".yaml", ".yml", ".coffee"}

SYMBOL = re.compile(r"^[A-Za-z_$][\w$]*$")
MODIFIERS = (
    r"(?:(?:export|default|public|private|protected|internal|static|abstract|final|override|async|unsafe|extern|"
    r"inline|virtual|open|sealed|data|declare|pub(?:\([^)]*\))?)\s+)*"
)
# Regex-based, language-agnostic definition lines: Python def/class, JS/TS function/class/const,
# Go func (methods too) and type, Rust fn/struct/enum/trait/impl, and module-level assignments.
DEFINITIONS = (
    r"^\s*"
    + MODIFIERS
    + r"(?:def|class|function\*?|func|fn|struct|enum|trait|interface|type|impl(?:<[^>]*>)?|mod|module|"
    r"object|record|union|namespace)\s+(?:\([^)]*\)\s*)?(?:\w+\s+for\s+)?{name}\b",
    r"^\s*" + MODIFIERS + r"(?:const|let|var|static)\s+(?:mut\s+)?{name}\b\s*[:=]",
    r"^{name}\s*(?::[^=]*)?=(?!=)",
    r"^\s*(?:async\s+)?(?:get\s+|set\s+|static\s+)?{name}\s*\([^)]*\)\s*(?::\s*[^{{]+)?\{{",
)

DESCRIPTION = (
    "Read code without reading whole files, no model involved: for each file (or folder) in paths, "
    "the definitions of symbols (Python def/class, JS/TS function/class/const, Go func/type, Rust "
    "fn/struct/..., found by regex) with their bodies, and/or the lines around keyword hits, "
    "merged into ranges; with neither, the files from the top. pack is one text with a header per "
    "file and numbered lines, at most max_bytes long (truncated says it was cut). Symlinks are "
    "listed in links with their target, never followed; FIFOs, sockets and devices are skipped."
)


class PackFile(BaseModel):
    path: str = Field(description="File, relative to SANDBOX_ROOT.")
    lines: int = Field(description="Lines in the whole file.")
    ranges: list[tuple[int, int]] = Field(description="1-based inclusive line ranges shown in pack.")
    found: list[str] = Field(default_factory=list, description="Symbols and keywords found in this file.")


class PackLink(BaseModel):
    path: str = Field(description="The symlink, relative to SANDBOX_ROOT.")
    target: str = Field(description="Its target text, as the link holds it (not followed, not read).")


class ReadPackResult(BaseModel):
    pack: str = Field(
        description="The slices: '== path (N lines) ==' then 'line| text', '...' between ranges."
    )
    files: list[PackFile]
    links: list[PackLink] = Field(
        default_factory=list, description=f"Symlinks met under paths (at most {MAX_FILES})."
    )
    missing: list[str] = Field(default_factory=list, description="Symbols and keywords found in no file.")
    truncated: bool = Field(
        description="Something was left out to stay within max_bytes (or too many files)."
    )
    bytes: int = Field(description="Size of pack in bytes (UTF-8).")


def read_pack(
    root: Path,
    paths: list[str],
    symbols: list[str] | None = None,
    keywords: list[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    context: int = 3,
) -> ReadPackResult:
    if max_bytes > MAX_BYTES_CAP:
        raise RequestTooLarge(f"max_bytes is {max_bytes}, at most {MAX_BYTES_CAP}")
    if max_bytes < MIN_MAX_BYTES:
        raise InvalidArgument(f"max_bytes must be at least {MIN_MAX_BYTES}")
    if not 0 <= context <= MAX_CONTEXT:
        raise InvalidArgument(f"context must be between 0 and {MAX_CONTEXT}")
    symbols, keywords = list(dict.fromkeys(symbols or [])), list(dict.fromkeys(keywords or []))
    if len(symbols) + len(keywords) > MAX_TERMS:
        raise RequestTooLarge(
            f"{len(symbols) + len(keywords)} symbols and keywords given, at most {MAX_TERMS}"
        )
    patterns = {symbol: _definition_regex(symbol) for symbol in symbols}
    if any(not k.strip() for k in keywords):
        raise InvalidArgument("keywords must not be empty strings")
    # a lone surrogate is in no decoded file, nor can a reply carry it
    if not all(_is_text(k) for k in keywords):
        raise InvalidArgument("keywords must be text: one has an unpaired surrogate")
    starts = resolve_all(paths, root, MAX_PATHS)

    files: dict[Path, None] = {}
    links: dict[Path, None] = {}
    cut = False
    for start in starts:
        listing = list_files(start, root)
        cut |= listing.cut
        files.update(dict.fromkeys(listing.files))
        links.update(dict.fromkeys(listing.links))
    files, links = list(files), list(links)
    if len(files) > MAX_FILES or len(links) > MAX_FILES:
        files, links, cut = files[:MAX_FILES], links[:MAX_FILES], True

    writer = _PackWriter(max_bytes)
    found_anywhere: set[str] = set()
    entries = []
    for file in files:
        text = read_text(file, root)
        if text is None:
            continue
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        ranges, found = _ranges(file, lines, patterns, keywords, context)
        found_anywhere.update(found)
        if not ranges:
            continue
        shown_ranges = writer.file(shown(file, root), lines, ranges)
        if shown_ranges:
            entries.append(
                PackFile(path=shown(file, root), lines=len(lines), ranges=shown_ranges, found=found)
            )
        if writer.full:
            break
    pack = writer.finish()
    missing = [term for term in [*symbols, *keywords] if term not in found_anywhere]
    shown_links = [PackLink(path=shown(link, root), target=link_target(link)) for link in links]
    return ReadPackResult(
        pack=pack,
        files=entries,
        links=shown_links,
        missing=missing,
        truncated=writer.full or cut,
        bytes=len(pack.encode()),
    )


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _definition_regex(symbol: str) -> re.Pattern:
    """Definitions of `name`, `Class.name` or `mod::name` (the last part is what is looked for)."""
    name = re.split(r"\.|::", symbol.strip())[-1]
    if not SYMBOL.match(name):
        raise InvalidArgument(f"symbols: {symbol!r} is not an identifier")
    escaped = re.escape(name)
    return re.compile("|".join(f"(?:{template.format(name=escaped)})" for template in DEFINITIONS))


def _ranges(file: Path, lines: list[str], patterns: dict[str, re.Pattern], keywords: list[str], context: int):
    """Merged 1-based ranges to show and the terms found in the file."""
    if not patterns and not keywords:
        return ([(1, len(lines))] if lines else []), []
    spans: list[tuple[int, int]] = []
    found: list[str] = []
    lowered = [k.lower() for k in keywords]
    for index, line in enumerate(lines):
        for symbol, regex in patterns.items():
            if regex.search(line):
                first = _decorators_start(lines, index)
                spans.append((first - context, _block_end(file, lines, index) + context))
                found.append(symbol)
        low = line.lower()
        for keyword, needle in zip(keywords, lowered):
            if needle in low:
                spans.append((index - context, index + context))
                found.append(keyword)
    last = len(lines) - 1
    merged: list[list[int]] = []
    for start, end in sorted((max(s, 0), min(e, last)) for s, e in spans):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s + 1, e + 1) for s, e in merged], list(dict.fromkeys(found))


def _decorators_start(lines: list[str], index: int) -> int:
    """Include decorators and attributes (@x, #[x]) right above a definition."""
    while index > 0 and lines[index - 1].lstrip().startswith(("@", "#[")):
        index -= 1
    return index


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block_end(file: Path, lines: list[str], index: int) -> int:
    """Last line of the definition starting at index: by braces, or by indentation for Python-like files."""
    limit = min(len(lines), index + MAX_BLOCK_LINES)
    head = "\n".join(lines[index : index + 3])
    if file.suffix not in INDENT_LANGUAGES and "{" in head:
        depth, opened = 0, False
        for j in range(index, limit):
            for char in _code_part(lines[j]):
                if char == "{":
                    depth, opened = depth + 1, True
                elif char == "}":
                    depth -= 1
            if opened and depth <= 0:
                return j
        return limit - 1
    base = _indent(lines[index])
    end = index
    for j in range(index + 1, limit):
        line = lines[j]
        if not line.strip():
            continue
        if _indent(line) <= base and not line.lstrip().startswith((")", "]", "}", "end")):
            break
        end = j
    if end + 1 < len(lines) and lines[end + 1].strip() in ("end", "end;"):
        end += 1  # Ruby-like closers at the definition's own indentation
    return end


def _code_part(line: str) -> str:
    """The line without string literals and // comments, so braces inside them do not count."""
    line = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`(?:\\.|[^`\\])*`', "", line)
    return line.split("//", 1)[0]


class _PackWriter:
    """Appends file slices while they fit in max_bytes, keeping room for the note saying what was cut."""

    NOTE_RESERVE = 120

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.parts: list[str] = []
        self.size = 0
        self.full = False
        self.left_out = 0

    def _fits(self, text: str) -> bool:
        size = len(text.encode())
        if self.size + size > self.max_bytes - self.NOTE_RESERVE:
            return False
        self.parts.append(text)
        self.size += size
        return True

    def file(self, path: str, lines: list[str], ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
        if self.full or not self._fits(f"== {path} ({len(lines)} lines) ==\n"):
            self.full = True
            self.left_out += sum(e - s + 1 for s, e in ranges)
            return []
        shown: list[tuple[int, int]] = []
        for position, (start, end) in enumerate(ranges):
            if position and not self._fits("...\n"):
                self.full = True
            last = start - 1
            for number in range(start, end + 1):
                text = lines[number - 1]
                if len(text) > LINE_MAX_CHARS:
                    text = text[: LINE_MAX_CHARS - 1] + "…"
                if self.full or not self._fits(f"{number:>5}| {text}\n"):
                    self.full = True
                    break
                last = number
            if last >= start:
                shown.append((start, last))
            if self.full:
                self.left_out += end - last + sum(e - s + 1 for s, e in ranges[position + 1 :])
                break
        return shown

    def finish(self) -> str:
        if self.full:
            self.parts.append(f"… {self.left_out} more lines left out at max_bytes={self.max_bytes}\n")
        return "".join(self.parts)
