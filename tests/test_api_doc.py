"""docs/api.md cannot drift from the route table: every route has a ``METHOD /path`` section, every
section is a route, and each section's error table lists exactly statuses the route can answer (its
``Route.statuses()``: its own, 401/403 when it needs a key, 429/503 where requests are admitted, 504, and
500) and every one of them, each with a problem ``type`` the service really uses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import pytest

from server.app import ROUTES
from server.routes import Route

ROOT: Final = Path(__file__).resolve().parent.parent
DOC: Final = ROOT / "docs" / "api.md"
_HEADING: Final = re.compile(r"^(#{2,4})\s+`?([A-Z]+) (/\S*?)`?\s*$")
_ANY_HEADING: Final = re.compile(r"^(#{1,6})\s")
_ERROR_ROW: Final = re.compile(r"^\|\s*(\d{3})\s*\|([^|]*)\|")
_SLUG: Final = re.compile(r"`([a-z][a-z-]*)`")
NOT_A_HEADING: Final = 7


def sections(text: str) -> dict[tuple[str, str], str]:
    """``(METHOD, /path)`` → the text under that heading, up to the next heading of its level or above."""
    found: dict[tuple[str, str], str] = {}
    lines = text.splitlines()
    # Each line's heading level, NOT_A_HEADING for text and for everything inside fenced code (a
    # Prometheus excerpt's "# HELP" lines are not headings).
    levels: list[int] = []
    fenced = False
    for line in lines:
        if line.lstrip().startswith("```"):
            fenced = not fenced
        heading = None if fenced else _ANY_HEADING.match(line)
        levels.append(len(heading.group(1)) if heading else NOT_A_HEADING)
    for index, line in enumerate(lines):
        match = _HEADING.match(line) if levels[index] != NOT_A_HEADING else None
        if not match:
            continue
        level = len(match.group(1))
        end = index + 1
        while end < len(lines) and levels[end] > level:
            end += 1
        key = (match.group(2), match.group(3))
        assert key not in found, f"two sections for {key[0]} {key[1]}"
        found[key] = "\n".join(lines[index + 1 : end])
    return found


def documented_errors(section: str) -> dict[int, set[str]]:
    """Error status → the problem ``type`` slugs its table rows name."""
    errors: dict[int, set[str]] = {}
    for line in section.splitlines():
        match = _ERROR_ROW.match(line.strip())
        if match and int(match.group(1)) >= 400:
            errors.setdefault(int(match.group(1)), set()).update(_SLUG.findall(match.group(2)))
    return errors


def answerable(route: Route) -> set[int]:
    """Every error status the route can answer: Route.statuses() and 500."""
    return set(route.statuses()) | {500}


def required(route: Route) -> set[int]:
    return set(route.statuses())


@pytest.fixture(scope="module")
def doc() -> dict[tuple[str, str], str]:
    return sections(DOC.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def slugs() -> str:
    """The service's source, where every problem ``type`` slug is a string literal."""
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted((ROOT / "server").glob("*.py")))


def test_every_route_has_a_section_and_every_section_is_a_route(doc: dict[tuple[str, str], str]) -> None:
    routes = {(route.method, route.path) for route in ROUTES}
    assert not routes - doc.keys(), f"routes without a section in docs/api.md: {sorted(routes - doc.keys())}"
    assert not doc.keys() - routes, f"sections for routes that do not exist: {sorted(doc.keys() - routes)}"


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: f"{route.method} {route.path}")
def test_a_sections_errors_are_the_routes(route: Route, doc: dict[tuple[str, str], str], slugs: str) -> None:
    section = doc.get((route.method, route.path))
    if section is None:
        pytest.fail(f"docs/api.md has no section {route.method} {route.path}")
    errors = documented_errors(section)
    impossible = set(errors) - answerable(route)
    assert not impossible, f"documented statuses the route cannot answer: {sorted(impossible)}"
    missing = required(route) - set(errors)
    assert not missing, f"statuses the route can answer that are not documented: {sorted(missing)}"
    for status, types in errors.items():
        assert types, f"the {status} row names no problem type"
        unknown = {slug for slug in types if f'"{slug}"' not in slugs}
        assert not unknown, f"the {status} row names problem types the service never answers: {unknown}"
