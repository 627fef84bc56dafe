"""Small HTML tables for Jupyter's rich display (the ``_repr_html_`` methods).

Jupyter calls ``_repr_html_`` only when it shows an object as a cell's result, so nothing
here runs while a model trains. Every text is escaped; numbers are formatted by the caller,
so the HTML shows exactly the figures the object's ``str()`` shows.

    >>> html = table(["name", "value"], [["w", "0.5"], ["b<1>", "-2"]], right=[1])
    >>> html.count("<tr>"), "b&lt;1&gt;" in html
    (3, True)
"""
from __future__ import annotations

from html import escape
from typing import Iterable, Sequence

__all__ = ["table", "escape", "block"]


def _cell(tag: str, text: object, right: bool) -> str:
    align = "right" if right else "left"
    return f'<{tag} style="text-align:{align}">{escape(str(text))}</{tag}>'


def table(head: Sequence[object], rows: Iterable[Sequence[object]], right: Iterable[int] = (),
          caption: str | None = None) -> str:
    """An HTML table: ``head`` names the columns, ``rows`` holds the (already formatted)
    cells, the columns listed in ``right`` are right-aligned (numbers)."""
    right = set(right)
    out = ['<table class="chainrule">']
    if caption:
        out.append(f'<caption style="text-align:left">{escape(caption)}</caption>')
    out.append("<thead><tr>" + "".join(_cell("th", h, i in right) for i, h in enumerate(head))
               + "</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(_cell("td", c, i in right) for i, c in enumerate(row))
                   + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def block(title: str, text: str) -> str:
    """A titled preformatted block (array values keep their columns)."""
    return (f'<div><b>{escape(title)}</b><pre style="margin:2px 0 6px 0">{escape(text)}</pre>'
            f'</div>')
