"""The integrity check (`shared.copy.integrity`) against the real service: every recorded copy matches
its source once the docType the service renames is named alike, and only then.

The service renames, on copy, the docType a model has under its own id (2023-07-31 on); 2022-08-31
keeps it; a composed model's docTypes (its components' ids) and a classifier's keep their names;
v2.1 copies keep their train results. So the raw docType names of a copy may differ from the
source's, and the check must not call that a divergence.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.copy import integrity
from shared.docintel import ItemInfo, ItemKind
from shared.docintel.dialects import V3Dialect, V4Dialect, V21Dialect
from tests.reference.recordings_lib import Recording, item_kind, load, names, source_item


def _dialect(rec: Recording) -> V3Dialect | V21Dialect:
    if rec.family == "v2.1":
        return V21Dialect("https://replay.example", "2.1")
    if rec.family == "v4":
        return V4Dialect("https://replay.example", rec.api_version)
    return V3Dialect("https://replay.example", rec.api_version)


def _copied(rec: Recording) -> dict[str, Any] | None:
    """The copy as the service showed it: a GET of the target item, else the copy's succeeded poll."""
    entry = rec.first("target_item")
    if entry is not None and entry.status == 200:
        return dict(entry.body)
    for e in rec.of_role("poll"):
        if isinstance(e.body, dict) and isinstance(e.body.get("result"), dict):
            return dict(e.body["result"])
    return None


def _pairs() -> list[tuple[str, ItemInfo, ItemInfo]]:
    pairs = []
    for name in names():
        rec = load(name)
        source, copied = source_item(rec), _copied(rec)
        if source is None or copied is None:
            continue
        copy = next(e for e in rec.entries if e.method == "POST" and e.path.endswith(("copyTo", "/copy")))
        kind = ItemKind.CLASSIFIER if item_kind(copy.path) == "classifier" else ItemKind.MODEL
        dialect = _dialect(rec)
        pairs.append((name, dialect.parse_item(kind, source), dialect.parse_item(kind, copied)))
    return pairs


PAIRS = _pairs()


def test_the_recorded_copies_include_every_family_and_a_rename():
    families = {load(name).family for name, _, _ in PAIRS}
    assert families == {"v2.1", "v3", "v4"}, families
    renamed = [n for n, s, t in PAIRS if s.field_schemas and t.field_schemas and s.doc_types != t.doc_types]
    kept = [n for n, s, t in PAIRS if s.id != t.id and s.doc_types == t.doc_types and s.doc_types]
    assert renamed, "no recorded copy whose docType names differ from its source's"
    assert kept, "no recorded copy that keeps its docType names under another id"


@pytest.mark.parametrize(("name", "source", "copied"), PAIRS, ids=[p[0] for p in PAIRS])
def test_every_recorded_copy_matches_its_source(name, source, copied):
    assert source.field_schemas is not None and copied.field_schemas is not None
    assert integrity.compare(source, copied) == []
    expected = integrity.source_digest(source)
    assert integrity.check_copy(expected=expected, source=None, target=copied, source_id=source.id) is None


@pytest.mark.parametrize(("name", "source", "copied"), PAIRS, ids=[p[0] for p in PAIRS])
def test_a_recorded_copy_with_a_field_more_or_less_is_diverged(name, source, copied):
    assert copied.field_schemas is not None
    changed = dict(copied.field_schemas)
    first = next(iter(changed))
    changed[first] = "0" * 16
    diverged = copied.model_copy(update={"field_schemas": changed})
    found = integrity.compare(source, diverged)
    assert found and "another field schema" in found[0]
    expected = integrity.source_digest(source)
    assert integrity.check_copy(expected=expected, source=None, target=diverged, source_id=source.id)
    missing = copied.model_copy(update={"field_schemas": {}})
    assert any("is missing" in f for f in integrity.compare(source, missing) or [])
