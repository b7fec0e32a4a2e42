"""Errors a user can act on.

A `RetrofitError`'s message says what is wrong, where, and how to fix it. The command line
prints it as one line and exits 2; the app shows it on the page. Anything else is a bug.
"""

from __future__ import annotations

import unicodedata

# Characters that change how a terminal shows what follows rather than showing themselves:
# control characters (ESC starts colour and cursor sequences), format characters (bidi
# overrides reorder a line), lone surrogates (cannot even be printed), line separators.
INVISIBLE_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")


class RetrofitError(Exception):
    """A problem with the user's input or settings, explained in words."""


def printable(text: str, keep: str = "", limit: int | None = None) -> str:
    """``text`` safe to show on a terminal: invisible characters written as escapes (ESC as
    ``\\x1b``), except those in ``keep``; at most ``limit`` characters (then "...").

    Messages quote what the user gave (a key, a file's first columns); quoted raw, an escape
    sequence there would recolour or rewrite the user's terminal.
    """
    if limit is not None and len(text) > limit:
        text = text[:limit] + "..."
    if text.isprintable():
        return text
    return "".join(ch.encode("unicode_escape").decode("ascii")
                   if ch not in keep and unicodedata.category(ch) in INVISIBLE_CATEGORIES else ch for ch in text)
