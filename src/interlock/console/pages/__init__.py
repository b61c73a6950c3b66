"""One module per console page: its routes over ``Ui`` and its template. ``PAGES`` is the navigation.

A page is added as one module here and one template: a class with ``nav`` and ``routes(ui)``.
"""

from __future__ import annotations

from typing import Protocol

from starlette.routing import Route

from interlock.console.ui import NavItem, Ui


class Page(Protocol):
    nav: NavItem

    def routes(self, ui: Ui) -> list[Route]: ...
