"""One GET → one page: routing, HTML through Jinja2 (autoescaped) or JSON of the same view model.

Each page is a path; ``?format=json`` or the same path under ``/api`` answers the view model as
JSON for other tools, so the HTML never holds a fact the JSON lacks. Templates are package data
(fleetsync/ui/templates), loaded once; autoescaping is on for every template, so a label, a
message or a drifted value from a report is text, never markup. The request target is bounded
(``MAX_TARGET``) and every path segment is matched against what the status branch holds, never
used to build a Git argument. The app is independent of the HTTP server: ``handle`` takes the
raw request target and returns a ``Response``, which fleetsync/serve/server.py writes out.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jinja2
from markupsafe import Markup, escape

from fleetsync.ui.model import ICONS, SLUGS, Cell, CellState, CommitLinks, FilterError, matrix, parse_filters
from fleetsync.ui.pages import NO_REASON, NotFound, cluster_page, placement_page
from fleetsync.ui.runs import runs_page
from fleetsync.ui.state import FleetState
from reconciler.errors import FleetsyncError

MAX_TARGET = 4096  # bytes of path and query
MAX_FIELDS = 64  # query parameters
HTML = "text/html; charset=utf-8"
JSON = "application/json"
PAGES = ("/", "/fleet", "/runs")  # exact paths, and the prefixes below
PAGE_PREFIXES = ("/placements/", "/clusters/", "/runs/")


@dataclass(frozen=True, slots=True)
class Response:
    code: int
    body: bytes
    content_type: str


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def to_json(model: Any) -> bytes:
    """A view model as JSON (dataclasses become objects, enums their values)."""
    return json.dumps(_plain(model), sort_keys=True, ensure_ascii=False).encode()


@functools.lru_cache(maxsize=4096)
def cell_html(cell: Cell) -> Markup:
    """One matrix cell as a ``<td>``: icon (hidden from screen readers) and the state's word.

    A filter in Python rather than a macro: a 1,000 x 50 matrix has 50,000 cells but only a few
    distinct ones, so each is escaped once."""
    index = escape(f" #{cell.index}") if cell.index else ""
    return Markup(
        f'<td class="st-{SLUGS[cell.state]}"><span aria-hidden="true">{ICONS[cell.state]}</span> '
        f"{escape(cell.state.value)}{index}</td>"
    )


def cells_html(cells: tuple[Cell, ...]) -> Markup:
    """A row's cells in one call: the template loops over rows, Python over cells."""
    return Markup("".join([cell_html(c) for c in cells]))


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fleetsync.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(icons=ICONS, slugs=SLUGS, states=list(CellState), no_reason=NO_REASON)
    env.filters["cells"] = cells_html
    return env


class UiApp:
    """The pages of one fleet: ``state()`` gives the newest read, ``now()`` the wall clock."""

    def __init__(self, state: Callable[[], FleetState], links: CommitLinks, now: Callable[[], datetime]):
        self.state = state
        self.links = links
        self.now = now
        self.env = environment()

    def render(self, template: str, model: Any, **extra: Any) -> bytes:
        return self.env.get_template(template).render(page=model, **extra).encode()

    def handle(self, target: str) -> Response:
        if len(target) > MAX_TARGET:
            return Response(414, b"request target too long\n", "text/plain; charset=utf-8")
        parts = urlsplit(target)
        try:
            query = parse_qs(parts.query, max_num_fields=MAX_FIELDS)
        except ValueError:  # more fields than that
            return self._error(400, f"at most {MAX_FIELDS} query parameters", False)
        path = parts.path
        as_json = (query.get("format") or [""])[0] == "json"
        if path == "/api" or path.startswith("/api/"):
            as_json, path = True, path[len("/api") :] or "/"
        try:
            return self._page(path, query, as_json)
        except NotFound as e:
            return self._error(404, str(e), as_json)
        except FilterError as e:
            return self._error(400, str(e), as_json)
        except FleetsyncError as e:  # the refs could not be read (already redacted by gitstore)
            return self._error(503, f"cannot read the hub refs: {e}", as_json)

    @staticmethod
    def serves(path: str) -> bool:
        """Whether ``path`` (without its query) names a page or its JSON twin: the server answers
        a POST there 405, not 404, since the view is read-only."""
        if path == "/api" or path.startswith("/api/"):
            path = path[len("/api") :] or "/"
        return path in PAGES or path.startswith(PAGE_PREFIXES)

    def answer(self, target: str) -> tuple[int, bytes, str]:
        """``handle`` as fleetsync/serve/server.py's ``pages`` hook wants it."""
        r = self.handle(target)
        return r.code, r.body, r.content_type

    def _page(self, path: str, query: dict[str, list[str]], as_json: bool) -> Response:
        state = self.state()
        model: Any
        if path in ("/", "/fleet"):
            model, template = matrix(state, parse_filters(query), self.links), "fleet.html"
        elif path.startswith("/placements/"):
            model, template = (
                placement_page(state, unquote(path[len("/placements/") :]), self.links),
                "placement.html",
            )
        elif path.startswith("/clusters/"):
            model, template = (
                cluster_page(state, unquote(path[len("/clusters/") :]), self.links),
                "cluster.html",
            )
        elif path == "/runs" or path.startswith("/runs/"):
            name = unquote(path[len("/runs/") :]) if path.startswith("/runs/") else None
            model, template = runs_page(state, self.now(), self.links, name or None), "runs.html"
        else:
            raise NotFound(f"no page {path[:80]!r}: try /, /placements/KEY, /clusters/NAME or /runs")
        if as_json:
            return Response(200, to_json(model), JSON)
        return Response(200, self.render(template, model, repo=state.repo), HTML)

    def _error(self, code: int, message: str, as_json: bool) -> Response:
        if as_json:
            return Response(code, to_json({"error": message}), JSON)
        return Response(code, self.render("error.html", {"code": code, "message": message}, repo=""), HTML)
