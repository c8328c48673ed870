"""Reading the pages the way the page tests need: forms with their fields, links, and the
cells of tables and summary lists (a summary list's key starts a row)."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class Page(HTMLParser):
    """Forms (attributes, `inputs` by name, `textareas` names), links, rows of cells, text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.links: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self.feed(html)
        self.text = " ".join(re.sub(r"<[^>]+>", " ", html).split())

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({**attrs, "inputs": {}, "textareas": []})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["inputs"][attrs["name"]] = attrs
        elif tag == "textarea" and self.forms:
            self.forms[-1]["textareas"].append(attrs.get("name"))
        elif tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag in ("tr", "dt"):
            self.rows.append([])
        if tag in ("td", "th", "dt", "dd"):
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th", "dt", "dd") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def forms_to(self, action: str) -> list[dict]:
        return [f for f in self.forms if f.get("action") == action]

    def form(self, action: str) -> dict:
        found = self.forms_to(action)
        assert len(found) == 1, f"no single form posting to {action}: {self.forms}"
        return found[0]

    def value(self, key: str) -> str:
        """The value beside `key` in a summary list."""
        return next(row[1] for row in self.rows if len(row) > 1 and row[0] == key)
