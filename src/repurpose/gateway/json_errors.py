"""A request body that is not JSON, in words: what is wrong, where (line, column) and the character there.

FastAPI reports a broken JSON body as ``("body", <offset>)`` and ``JSON decode error``; the
caller then sees ``[222]: JSON decode error``. ``json_problem`` turns the offset and the
decoder's reason into a sentence, e.g. ``line 1, column 223: a raw control character U+000D
(CARRIAGE RETURN) inside a string: escape it (\\r) or remove it``.
"""

from __future__ import annotations

from repurpose.plain_text import describe_character

# The json module's reasons (CPython's scanner), said for someone who wrote the body by hand.
_REASONS = {
    "Expecting value": "a value was expected (a string, a number, an object, an array, true, false or null)",
    "Expecting property name enclosed in double quotes": "a field name in double quotes was expected",
    "Expecting ':' delimiter": "a ':' was expected after the field name",
    "Expecting ',' delimiter": "a ',' or a closing bracket was expected",
    "Unterminated string starting at": "a string starts here and is never closed with a '\"'",
    "Invalid control character at": "a raw control character inside a string: escape it (\\n, \\r, \\t) or remove it",
    "Invalid \\escape": "an unknown escape in a string: a backslash is written \\\\",
    "Invalid \\uXXXX escape": "a \\u escape needs four hex digits",
    "Extra data": "more text follows the JSON value: send one value (an object)",
}


def json_problem(document: object, offset: object, reason: str) -> str:
    """``line L, column C (found X): what is wrong`` for a JSON decode error at ``offset`` of ``document``."""
    said = _REASONS.get(reason, reason[:1].lower() + reason[1:] if reason else "it cannot be decoded")
    if not isinstance(document, str) or not isinstance(offset, int) or not 0 <= offset <= len(document):
        return f"the request body is not valid JSON: {said}"
    line = document.count("\n", 0, offset) + 1
    column = offset - (document.rfind("\n", 0, offset) + 1) + 1
    found = "the end of the body" if offset == len(document) else describe_character(document[offset])
    return f"the request body is not valid JSON: line {line}, column {column} (found {found}): {said}"
