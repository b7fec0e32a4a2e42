"""Errors a user can act on.

A `RetrofitError`'s message says what is wrong, where, and how to fix it. The command line
prints it as one line and exits 2; the app shows it on the page. Anything else is a bug.
"""


class RetrofitError(Exception):
    """A problem with the user's input or settings, explained in words."""
