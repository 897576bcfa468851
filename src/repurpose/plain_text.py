"""Ids, names and SMILES are plain text: control (Cc), format (Cf), surrogate (Cs), private-use
(Co) and line or paragraph separator (Zl, Zp) characters are refused.

A right-to-left override (U+202E) or a zero-width space makes a stored id read like another one
in a table or a log line, a NUL or a line feed ends it early in a file, and RDKit skips some of
them silently (``\\u202eCCO`` parses as ethanol). None belongs in a well-formed SMILES, id or
name, so every place that takes one refuses them, naming the character and its position. A lone
surrogate (``"\ud800"`` in JSON) is stored fine but cannot be encoded as UTF-8: every answer
that lists it would fail.
"""

from __future__ import annotations

import unicodedata

from repurpose.errors import InvalidInput

HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
_KINDS = {"Cc": "control", "Cf": "format", "Cs": "surrogate", "Co": "private-use", "Zl": "separator", "Zp": "separator"}

# Control characters have no Unicode name; these are the ones met in pasted text.
_CONTROL_NAMES = {
    "\x00": "NUL",
    "\t": "TAB",
    "\n": "LINE FEED",
    "\x0b": "VERTICAL TAB",
    "\x0c": "FORM FEED",
    "\r": "CARRIAGE RETURN",
    "\x1b": "ESCAPE",
    "\x7f": "DELETE",
}


def hidden_character(text: str) -> str | None:
    """The first hidden character of ``text`` (see HIDDEN_CATEGORIES) and where, in words; None if none."""
    if text.isascii() and text.isprintable():  # the common case, e.g. every SMILES of a screen
        return None
    for position, character in enumerate(text, start=1):
        category = unicodedata.category(character)
        if category in HIDDEN_CATEGORIES:
            kind = _KINDS[category]
            return f"the {kind} character {describe_character(character)} at position {position}"
    return None


def describe_character(character: str) -> str:
    """``'x'`` for a visible character, ``U+000D (CARRIAGE RETURN)`` for any other."""
    if character.isprintable() and not character.isspace():
        return repr(character)
    name = _CONTROL_NAMES.get(character) or unicodedata.name(character, "")
    return f"U+{ord(character):04X}" + (f" ({name})" if name else "")


def check_plain_text(text: str, what: str) -> str:
    """``text``, unless it holds a control or format character (InvalidInput naming it)."""
    problem = hidden_character(text)
    if problem is not None:
        raise InvalidInput(f"{what} {text!r:.80} holds {problem}: {what}s may not hold control or format characters")
    return text
