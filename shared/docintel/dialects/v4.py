"""API 2024-02-29-preview, 2024-07-31-preview, 2024-11-30: ``/documentintelligence/...``.

Same wire shapes as v3 (schema names differ only), a different prefix, classifier copy from
2024-07-31-preview (guarded by ``Dialect.check_supported``), and composed models may carry
``classifierId`` (handled in the shared item parser).
"""

from __future__ import annotations

from typing import ClassVar

from .v3 import V3Dialect


class V4Dialect(V3Dialect):
    family: ClassVar[str] = "v4"
    prefix: ClassVar[str] = "/documentintelligence"
