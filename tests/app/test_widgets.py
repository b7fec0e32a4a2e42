"""Text people typed, shown inside Markdown, reads as they wrote it and draws nothing."""

from __future__ import annotations

import re

from hypothesis import given, strategies as st

from app.widgets import literal


def test_links_images_and_colours_in_a_name_are_not_drawn():
    shown = literal("Pilot ![pixel](https://tracker.example/p.png) [click](https://evil.example) :red[urgent] **x**")
    assert not re.search(r"(?<!\\)[\[\]()!*:]", shown)  # every Markdown mark is escaped


@given(st.text())
def test_escaped_text_unescapes_to_what_was_typed(text):
    assert re.sub(r"\\(.)", r"\1", literal(text), flags=re.DOTALL) == text
