"""API versions: canonical names, the v2.1 alias, and what each version can do."""

from __future__ import annotations

import pytest

from shared.docintel import (
    API_VERSIONS,
    DEFAULT_API_VERSION,
    api_family,
    normalize_api_version,
    supports_classifier_copy,
    supports_classifiers,
)


def test_supported_versions_and_default() -> None:
    assert API_VERSIONS == (
        "2.1",
        "2022-08-31",
        "2023-07-31",
        "2024-02-29-preview",
        "2024-07-31-preview",
        "2024-11-30",
    )
    assert DEFAULT_API_VERSION == "2024-11-30"


@pytest.mark.parametrize("spelling", ["v2.1", "V2.1", "2.1", " v2.1 "])
def test_v21_alias(spelling: str) -> None:
    assert normalize_api_version(spelling) == "2.1"


def test_unknown_version_is_rejected_with_the_supported_list() -> None:
    with pytest.raises(ValueError, match="2024-11-30"):
        normalize_api_version("2023-10-31-preview")


@pytest.mark.parametrize(
    ("version", "family"),
    [
        ("2.1", "v2.1"),
        ("2022-08-31", "v3"),
        ("2023-07-31", "v3"),
        ("2024-02-29-preview", "v4"),
        ("2024-07-31-preview", "v4"),
        ("2024-11-30", "v4"),
    ],
)
def test_families(version: str, family: str) -> None:
    assert api_family(version) == family


@pytest.mark.parametrize(
    ("version", "copy", "read"),
    [
        ("v2.1", False, False),
        ("2022-08-31", False, False),
        ("2023-07-31", False, True),
        ("2024-02-29-preview", False, True),
        ("2024-07-31-preview", True, True),
        ("2024-11-30", True, True),
    ],
)
def test_classifier_support(version: str, copy: bool, read: bool) -> None:
    assert supports_classifier_copy(version) is copy
    assert supports_classifiers(version) is read
