"""Which items take part in a sync: id globs and tags, from the ``DR_SYNC_*`` settings."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.docintel import ItemInfo
from shared.settings import Settings

TagSpec = list[tuple[str, str | None]]


def _glob_regex(patterns: Iterable[str]) -> re.Pattern[str] | None:
    parts = [fnmatch.translate(p.strip()) for p in patterns if p.strip()]
    return re.compile("|".join(f"(?:{p})" for p in parts)) if parts else None


def _parse_tags(specs: Iterable[str]) -> TagSpec:
    result: list[tuple[str, str | None]] = []
    for spec in specs:
        spec = spec.strip()
        if not spec:
            continue
        key, sep, value = spec.partition("=")
        result.append((key.strip(), value.strip() if sep else None))
    return result


def _has_tag(tags: dict[str, str], wanted: TagSpec) -> bool:
    for key, value in wanted:
        if key in tags and (value is None or tags[key] == value):
            return True
    return False


@dataclass(frozen=True)
class Filters:
    """Which items take part. Ids match shell-style globs (case-sensitive); tags are ``key=value``
    or ``key`` (any value). An item takes part when its id matches an include glob and no exclude
    glob, it has one of the include tags (when any are set) and none of the exclude tags. Items that
    cannot carry tags (classifiers, v2.1 models) never match an include tag. Prebuilt models never
    take part."""

    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    include_tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    # Compiled once from the fields above.
    _include: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _exclude: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _include_tags: TagSpec = field(init=False, repr=False, compare=False)
    _exclude_tags: TagSpec = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A frozen dataclass sets its derived fields through object.__setattr__.
        object.__setattr__(self, "_include", _glob_regex(self.include or ("*",)))
        object.__setattr__(self, "_exclude", _glob_regex(self.exclude))
        object.__setattr__(self, "_include_tags", _parse_tags(self.include_tags))
        object.__setattr__(self, "_exclude_tags", _parse_tags(self.exclude_tags))

    @classmethod
    def from_settings(cls, settings: Settings) -> Filters:
        return cls(
            tuple(settings.sync_include),
            tuple(settings.sync_exclude),
            tuple(settings.sync_include_tags),
            tuple(settings.sync_exclude_tags),
        )

    def excluded(self, item: ItemInfo) -> str | None:
        """Why the item does not take part, or None when it does."""
        if item.is_prebuilt:
            return "prebuilt models are never copied"
        if self._include is not None and not self._include.fullmatch(item.id):
            return "id matches no include pattern"
        if self._exclude is not None and self._exclude.fullmatch(item.id):
            return "id matches an exclude pattern"
        if self._include_tags and not _has_tag(item.tags, self._include_tags):
            return "has none of the include tags"
        if self._exclude_tags and _has_tag(item.tags, self._exclude_tags):
            return "has an exclude tag"
        return None
