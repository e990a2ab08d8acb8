"""Meld een Vermoeden categories: data, not code, so another city brings its own list."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bot.i18n import SOURCE_LANGUAGE

_SLUG_MAX = 24  # reports.category and report_daily.category


class CategoriesError(ValueError):
    """The categories file is missing or invalid; ``str()`` is one line for the log."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"categories file {path}: {problem}")


@dataclass(frozen=True, slots=True)
class Category:
    slug: str
    icon: str
    labels: tuple[tuple[str, str], ...]  # (language, label), Dutch always present

    def label(self, language: str) -> str:
        named = dict(self.labels)
        return named.get(language) or named[SOURCE_LANGUAGE]


@dataclass(frozen=True, slots=True)
class Categories:
    items: tuple[Category, ...]

    def get(self, slug: str) -> Category | None:
        return next((c for c in self.items if c.slug == slug), None)

    def label(self, slug: str, language: str) -> str:
        """The category's name in `language`; an unknown (retired) slug is shown as is."""
        category = self.get(slug)
        return category.label(language) if category is not None else slug

    @property
    def slugs(self) -> tuple[str, ...]:
        return tuple(c.slug for c in self.items)


def default_categories_path() -> Path:
    return Path(__file__).resolve().parent / "data" / "report_categories.json"


def load_categories(path: Path | None = None) -> Categories:
    path = path or default_categories_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CategoriesError(path, f"cannot read: {exc}") from None
    entries = raw.get("categories") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise CategoriesError(path, 'expected {"categories": [...]} with at least one entry')
    items: list[Category] = []
    for index, entry in enumerate(entries):
        slug = entry.get("slug") if isinstance(entry, dict) else None
        labels = entry.get("label") if isinstance(entry, dict) else None
        if not isinstance(slug, str) or not slug.isidentifier() or len(slug) > _SLUG_MAX:
            raise CategoriesError(path, f"category {index}: slug must be a short identifier")
        if not isinstance(labels, dict) or not isinstance(labels.get(SOURCE_LANGUAGE), str):
            raise CategoriesError(path, f"category {slug!r}: needs a Dutch (nl) label")
        items.append(
            Category(
                slug=slug,
                icon=str(entry.get("icon", "")),
                labels=tuple((str(k), str(v)) for k, v in labels.items()),
            )
        )
    if len({c.slug for c in items}) != len(items):
        raise CategoriesError(path, "two categories share a slug")
    return Categories(tuple(items))
