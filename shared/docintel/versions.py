"""API versions the client speaks, and what each one can do.

Three wire families exist (see the REST specs in tests/reference/docintel-specs):

* ``v2.1``  — ``/formrecognizer/v2.1/custom/models/...`` (version in the path)
* ``v3``    — ``/formrecognizer/...?api-version=2022-08-31 | 2023-07-31``
* ``v4``    — ``/documentintelligence/...?api-version=2024-*``
"""

from __future__ import annotations

from typing import Literal

API_VERSIONS: tuple[str, ...] = (
    "2.1",
    "2022-08-31",
    "2023-07-31",
    "2024-02-29-preview",
    "2024-07-31-preview",
    "2024-11-30",
)
DEFAULT_API_VERSION = "2024-11-30"

#: First version with ``documentClassifiers:authorizeCopy`` / ``:copyTo``.
MIN_CLASSIFIER_COPY_VERSION = "2024-07-31-preview"
#: First version with classifiers at all (get / list / delete).
MIN_CLASSIFIER_VERSION = "2023-07-31"

ApiFamily = Literal["v2.1", "v3", "v4"]

_ALIASES = {"v2.1": "2.1", "2.1": "2.1"}


def normalize_api_version(api_version: str) -> str:
    """Return the canonical spelling of ``api_version``; ``"v2.1"`` is accepted for ``"2.1"``.

    Raises ``ValueError`` naming the supported versions for anything else.
    """
    raw = str(api_version).strip()
    canonical = _ALIASES.get(raw.lower(), raw)
    if canonical not in API_VERSIONS:
        raise ValueError(
            f"Unsupported Document Intelligence API version {api_version!r}; "
            f"use one of {', '.join(API_VERSIONS)} (or 'v2.1')."
        )
    return canonical


def api_family(api_version: str) -> ApiFamily:
    version = normalize_api_version(api_version)
    if version == "2.1":
        return "v2.1"
    if version.startswith("2024-"):
        return "v4"
    return "v3"


def _index(api_version: str) -> int:
    return API_VERSIONS.index(normalize_api_version(api_version))


def supports_classifier_copy(api_version: str) -> bool:
    """True when ``api_version`` can authorize and copy classifiers (2024-07-31-preview and later)."""
    return _index(api_version) >= API_VERSIONS.index(MIN_CLASSIFIER_COPY_VERSION)


def supports_classifiers(api_version: str) -> bool:
    """True when ``api_version`` can read, list and delete classifiers (2023-07-31 and later)."""
    return _index(api_version) >= API_VERSIONS.index(MIN_CLASSIFIER_VERSION)
