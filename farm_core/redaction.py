"""Masking secrets in text before it is logged or stored.

Two kinds of secrets are masked. Known values (keys and tokens this process holds), as they are and in the
encodings text carries them in: hex, percent-encoding, and base64 in both alphabets at any byte alignment
inside a longer base64 run. And credentials found without knowing them: a value whose name says it is one
(`NAME=value`, `NAME: value`, `"name": "value"`, whatever the value looks like), URL passwords, Authorization
header values, and tokens of a known shape (`sk-`, `ghp_`, `xoxb-`, `AKIA`...). Names, schemes, users and
hosts stay readable.
"""

import base64
import logging
import re
from urllib.parse import quote, quote_plus

MASK = "[REDACTED]"
MIN_KNOWN_CHARS = 4  # a shorter known value would mask ordinary text
MIN_ENCODED_CHARS = 8  # likewise for an encoded form: a short base64 fragment occurs in unrelated base64

# --- known values
# -------------------------------------------------------------------------------------------------


def encoded_forms(secret: str) -> set[str]:
    """The secret and the forms it takes when encoded: hex, percent-encoding, base64 (standard and
    URL-safe)."""
    raw = secret.encode()
    percent = {quote(secret, safe=""), quote(secret), quote_plus(secret)}
    percent |= {_lower_escapes(form) for form in percent}
    forms = {raw.hex(), raw.hex().upper(), *percent, *_base64_cores(raw)}
    return {form for form in forms if len(form) >= MIN_ENCODED_CHARS} | {secret}


def _lower_escapes(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda escape: escape.group().lower(), text)


def _base64_cores(raw: bytes) -> set[str]:
    """What the base64 of any text holding raw is sure to contain, whichever of the 3 byte alignments raw has.

    Preceded by `skew` bytes, raw fills bits [8*skew, 8*(skew+n)); a base64 character covers 6 bits, so the
    ones wholly inside that range are the same whatever surrounds raw: characters ceil(4*skew/3) to
    floor(4*(skew+n)/3)."""
    cores = set()
    for skew in range(3):
        first, end = (4 * skew + 2) // 3, 4 * (skew + len(raw)) // 3
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            cores.add(encode(bytes(skew) + raw).decode()[first:end])
    return cores


class _KnownValues:
    """Finds every occurrence of every form of the known values; overlapping ones merge into one span."""

    def __init__(self, secrets: list[str]):
        values = {s for s in secrets if len(s) >= MIN_KNOWN_CHARS}
        self._needles = sorted(
            {form for value in values for form in encoded_forms(value)}, key=len, reverse=True
        )
        # One regex pass tells whether any needle occurs at all: most lines hold none, and then it is all they
        # cost.
        self._any = re.compile(_trie_pattern(self._needles)) if self._needles else None

    def mask(self, text: str) -> str:
        if self._any is None or self._any.search(text) is None:
            return text
        spans = sorted(span for needle in self._needles for span in _occurrences(text, needle))
        pieces, position = [], 0
        for start, end in _merged(spans):
            pieces += [text[position:start], MASK]
            position = end
        pieces.append(text[position:])
        return "".join(pieces)


def _trie_pattern(words: list[str]) -> str:
    """A regex matching where any of words begins, its alternatives merged by common prefix (several times
    faster than a flat alternation, which tries every word at every position)."""
    tree: dict = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _trie_branch(tree)


def _trie_branch(node: dict) -> str:
    if "" in node:
        return ""  # a word ends here: enough to know that one occurs
    branches = [re.escape(char) + _trie_branch(below) for char, below in sorted(node.items())]
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


def _occurrences(text: str, needle: str):
    start = text.find(needle)
    while start != -1:
        yield start, start + len(needle)
        start = text.find(needle, start + 1)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged = [spans[0]]
    for start, end in spans[1:]:
        if start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# --- credentials by name
# ------------------------------------------------------------------------------------------

_SECRET_WORD = r"pass(?:word|wd)|secret|token|api[_-]?key|private[_-]?key|credential"
NAME_MAX_CHARS = 64  # on either side of the secret word: bounds the search's backtracking on a long word
# A quoted string: JSON's (escapes allowed), Python's single-quoted, or a JSON string inside a JSON string
# (\"...\").
_QUOTED = r"""\\"(?:(?!\\").)*\\"|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'"""
# Found from the secret word on, which few lines hold (the rest of the name, before the word, is read back
# after):
# the word, not glued to a lowercase letter (tokens, tokenizer), the name's rest, then a separator and a
# value.
_NAMED_VALUE = re.compile(
    rf"(?i:{_SECRET_WORD})(?![a-z])(?P<rest>[\w.-]{{0,{NAME_MAX_CHARS}}})(?:"
    # "name": value — a JSON or Python dict key; a bare value (a number) ends at , } ] (objects and lists are
    # no value)
    rf"""(?P<quote>\\?["'])\s*:\s*(?P<key_value>{_QUOTED}|(?![\[{{])[^\s,}}\]"'\\]+)"""
    # NAME=value (env, shell, CLI option, query string) or NAME: value (YAML, HTTP header); a bare value ends
    # at a
    # space, a quote, a backslash (a "\n" escape in JSON-encoded text) or & (the next query parameter)
    rf"""|(?:\s*=(?!=)\s*|:[ \t]+)(?P<value>{_QUOTED}|[^\s"'`\\&]+))"""
)
_WORD_IN_NAME = re.compile(_SECRET_WORD, re.IGNORECASE)
_NAME_PARTS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# A part right after the secret word that says the value describes the secret rather than holds it.
_DESCRIBING = frozenset(
    "count counts limit limits max min num number len length size total budget "
    "usage used type types kind id ids name names file files path paths dir url uri "
    "endpoint env var header field param prefix suffix format pattern regex "
    "ttl expiry expires expiration policy rotation".split()
)
# Values that hold no secret: empty literals, a Python type annotation, a reference to a variable (shell,
# template,
# format string), a placeholder or another tool's mask (`redis://:***@host`).
_NOT_A_SECRET = re.compile(
    r"\*+|(?i:none|null|nil|true|false|undefined)|str|bytes|int|bool|float|Secret(?:Str|Bytes)|Optional\[.*|"
    r"\$[A-Z_][A-Z0-9_]*|\$\{.*|\$\(.*|\{\{.*|\{[\w.]*\}|%(?:\(\w+\))?[sdr]|<[\w .-]+>"
)
_CLOSERS = "),;]}"


def secret_name(name: str) -> bool:
    """The name says its value is a credential: a secret word ends one of its parts and no describing part
    follows.

    `GITHUB_TOKEN`, `dbPassword`, `PGPASSWORD`, `x-api-key` are; `max_tokens`, `tokenizer`, `token_count`,
    `tokenType` and `TOKEN_URL` are not (a lowercase letter after the word makes another word)."""
    for word in _WORD_IN_NAME.finditer(name):
        after = name[word.end() : word.end() + 1]
        if after.islower() or (after.isupper() and word.group().isupper()):
            continue  # tokens, tokenizer, TOKENS: the word goes on
        rest = _NAME_PARTS.findall(name[word.end() :])
        if not rest or rest[0].lower() not in _DESCRIBING:
            return True
    return False


def _mask_named_values(text: str) -> str:
    """Mask the value of every NAME=value, NAME: value and "name": value whose name is a secret_name."""
    pieces, position = [], 0
    for word_start in _secret_word_starts(text):
        if word_start < position:
            continue  # inside a value masked already
        found = _NAMED_VALUE.match(text, word_start)
        if found is None:
            continue
        name_start = _name_start(text, word_start)
        quote_mark = found.group("quote")
        if quote_mark is not None and text[name_start - len(quote_mark) : name_start] != quote_mark:
            continue  # a closing quote without its opening one: no key
        value_group = "value" if quote_mark is None else "key_value"
        value = found.group(value_group)
        name = text[name_start : found.end("rest")]
        if secret_name(name) and not _holds_no_secret(value, name):
            start, end = found.span(value_group)
            pieces += [text[position:start], _masked_value(value)]
            position = end
    pieces.append(text[position:])
    return "".join(pieces)


_WORD_ROOTS = ("pass", "secret", "token", "api", "private", "credential")  # how every _SECRET_WORD begins
_WORD_ROOT = re.compile("|".join(_WORD_ROOTS), re.IGNORECASE)


def _secret_word_starts(text: str) -> list[int]:
    """Where a secret word may begin, in order: str.find over the lowercased text is many times faster than
    a regex."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a character whose lowercase is longer (İ): positions would shift
        return [found.start() for found in _WORD_ROOT.finditer(text)]
    starts = []
    for root in _WORD_ROOTS:
        at = lowered.find(root)
        while at != -1:
            starts.append(at)
            at = lowered.find(root, at + 1)
    return sorted(starts)


def _name_start(text: str, word_start: int) -> int:
    """Where the name holding the secret word at word_start begins (name characters: letters, digits, _ .
    -)."""
    start, limit = word_start, max(0, word_start - NAME_MAX_CHARS)
    while start > limit and (text[start - 1].isalnum() or text[start - 1] in "_.-"):
        start -= 1
    return start


def _holds_no_secret(value: str, name: str) -> bool:
    """The value is empty, the mask, the name itself (`api_key=api_key`) or a _NOT_A_SECRET; closing
    punctuation after a bare value (`f(token=None)`) does not count."""
    if value.startswith(MASK) and not value[len(MASK) :].strip(_CLOSERS + "\"'\\"):
        return True  # already masked
    quoted = value[:1] in "\"'\\"
    candidates = {_unquoted(value)} if quoted else {value, value.rstrip(_CLOSERS)}
    return any(not bare or bare == name or _NOT_A_SECRET.fullmatch(bare) for bare in candidates)


def _unquoted(value: str) -> str:
    for quote_mark in ('\\"', '"', "'"):
        if len(value) >= 2 * len(quote_mark) and value.startswith(quote_mark) and value.endswith(quote_mark):
            return value[len(quote_mark) : -len(quote_mark)]
    return value


def _masked_value(value: str) -> str:
    """The mask, inside the value's own quotes when it had any (JSON stays JSON)."""
    for quote_mark in ('\\"', '"', "'"):
        if len(value) >= 2 * len(quote_mark) and value.startswith(quote_mark) and value.endswith(quote_mark):
            return f"{quote_mark}{MASK}{quote_mark}"
    return MASK


# --- credentials by shape
# -----------------------------------------------------------------------------------------

_AUTHORIZATION = re.compile(
    r"""(?i)(?P<head>\b(?:proxy-)?authorization\\?["']?\s*[:=]\s*\\?["']?(?:(?:basic|bearer|token|digest|negotiate|ntlm)\s+)?)"""
    r"""(?P<secret>[^\s"'\\,]+)"""
)
_BEARER = re.compile(r"(?i)(?P<head>\bbearer\s+)(?P<secret>[A-Za-z0-9._~+/=-]{8,})")
_BASIC = re.compile(r"(?i)(?P<head>\bbasic\s+)(?P<secret>[A-Za-z0-9+/]{8,}={0,2})(?![\w+/=])")
# The password runs to the authority's last @, so one holding an @ is masked whole.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#:@]*:)(?P<secret>[^\s/?#]+)(?=@[^\s/?#@]*(?:[\s/?#]|$))"
)
_TOKEN_PREFIXES = re.compile(
    r"(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}|"
    r"xox[abprs]-[A-Za-z0-9-]{10,}|(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])|(?i:sk-)[A-Za-z0-9_-]{8,}|"
    r"job\.[A-Za-z0-9_-]+\.\d+\.[0-9a-f]{16,})"  # the adapter's per-job tokens (farm_core/job_tokens.py)
)


def _keep_head(found: re.Match) -> str:
    return found.group("head") + MASK


def _keep_head_unless_reference(found: re.Match) -> str:
    """Mask the secret unless it names one instead (`Bearer $TOKEN`, `user:${PASSWORD}@`): a command may
    say that."""
    return found.group() if _NOT_A_SECRET.fullmatch(found.group("secret")) else found.group("head") + MASK


def _basic_credentials(found: re.Match) -> str:
    """Basic's base64 `user:password`, told from prose (`Basic authentication`) by its length and its
    characters."""
    secret = found.group("secret")
    looks_encoded = len(secret) % 4 == 0 and (
        not secret[1:].islower() or any(c in secret for c in "0123456789+/=")
    )
    return found.group("head") + MASK if looks_encoded else found.group()


# (words one of which the lowercased text must hold for the pass to run, the pass): most lines skip most
# passes.
_PASSES = (
    (("authorization",), lambda text: _AUTHORIZATION.sub(_keep_head_unless_reference, text)),
    (("bearer",), lambda text: _BEARER.sub(_keep_head, text)),
    (("basic",), lambda text: _BASIC.sub(_basic_credentials, text)),
    (("://",), lambda text: _URL_PASSWORD.sub(_keep_head_unless_reference, text)),
    (
        (
            "ghp_",
            "gho_",
            "ghu_",
            "ghs_",
            "ghr_",
            "github_pat_",
            "glpat-",
            "xox",
            "akia",
            "asia",
            "sk-",
            "job.",
        ),
        lambda text: _TOKEN_PREFIXES.sub(MASK, text),
    ),
    (("pass", "secret", "token", "key", "credential"), _mask_named_values),
)


def _mask_shapes(text: str) -> str:
    lowered = text.lower()
    for triggers, mask in _PASSES:
        # a plain loop: any() over a generator costs more than the look-ups themselves
        for trigger in triggers:
            if trigger in lowered:
                text = mask(text)
                break
    return text


class Redactor:
    """Replaces known secret values (in any common encoding) and credentials found by name or shape with a
    mask."""

    def __init__(self, secrets: list[str]):
        self._known = _KnownValues(secrets)

    def __call__(self, text: str) -> str:
        return _mask_shapes(self._known.mask(text))


class RedactingFilter(logging.Filter):
    """Logging filter that redacts every record's final message and its traceback text."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a malformed call: the handler reports it, as logging always does
        record.msg, record.args = self._redact(message), None
        if record.exc_info:
            record.exc_text = self._redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
