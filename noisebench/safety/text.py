"""Terminal-safe text: everything echoed that came from a file or an argument passes through `clean`.

Attribute values, dataset names, paths and database fields are data, not terminal commands: a
control character in them could move the cursor, recolour or erase the screen, retitle the window
(ESC/CSI/OSC sequences) or forge extra output lines (CR, LF). `clean` replaces every C0 control
character (except, on request, the newline), DEL, every C1 control character and the Unicode
bidirectional overrides with a visible escape (`\\x1b`, `\\u202e`), so the text stays readable and
honest and the terminal stays inert.
"""

from __future__ import annotations

import re

# C0 (0x00-0x1f) + DEL + C1 (0x80-0x9f), bidi embeddings/overrides/isolates, line/paragraph separators
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_KEEP_NL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match) -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def clean(text: object, keep_newlines: bool = False) -> str:
    """`text` as a string with control characters escaped; newlines kept only if `keep_newlines`
    (for multi-line output this program lays out itself)."""
    s = text if isinstance(text, str) else str(text)
    return (_UNSAFE_KEEP_NL if keep_newlines else _UNSAFE).sub(_escape, s)


def has_control(text: str) -> bool:
    """True if `text` holds any character `clean` would escape (names with these are refused)."""
    return _UNSAFE.search(text) is not None

