"""What the emulated resource holds: custom models (v3/v4 and v2.1) and classifiers, the counts its
limits apply to, and the ``info`` (quota) view of them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .clock import fmt_time
from .versions import V21, Version

Item = dict[str, Any]  # a model or classifier as stored: JSON-shaped, rendered per version on the way out


def is_neural(m: Item) -> bool:
    if m.get("buildMode") == "neural":
        return True
    return any(
        isinstance(dt, dict) and dt.get("buildMode") == "neural" for dt in (m.get("docTypes") or {}).values()
    )


def build_mode(m: Item) -> str:
    return "neural" if is_neural(m) else str(m.get("buildMode") or "template")


class ItemStore:
    def __init__(self) -> None:
        self.models: dict[str, Item] = {}
        self.v21_models: dict[str, Item] = {}
        self.classifiers: dict[str, Item] = {}

    def of_kind(self, kind: str) -> dict[str, Item]:
        """The items of a kind: ``model``, ``classifier`` or ``v21``."""
        return {"model": self.models, "classifier": self.classifiers, "v21": self.v21_models}[kind]

    def custom_model_count(self) -> int:
        return len(self.models) + len(self.v21_models)

    def neural_count(self) -> int:
        return sum(1 for m in self.models.values() if is_neural(m))

    def info(self, ver: Version, now: float, model_limit: int, neural_limit: int) -> dict[str, Any]:
        if ver.name == V21:
            return {
                "summary": {
                    "count": self.custom_model_count(),
                    "limit": model_limit,
                    "lastUpdatedDateTime": fmt_time(now),
                }
            }
        out: dict[str, Any] = {
            "customDocumentModels": {"count": self.custom_model_count(), "limit": model_limit}
        }
        if ver.neural_builds_in_info:
            # inferred: the emulator reports neural models held vs the neural limit here
            out["customNeuralDocumentModelBuilds"] = {
                "used": self.neural_count(),
                "quota": neural_limit,
                "quotaResetDateTime": _first_of_next_month(now).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        return out


def _first_of_next_month(now: float) -> datetime:
    first = datetime.fromtimestamp(now, UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return first.replace(month=first.month % 12 + 1, year=first.year + first.month // 12)
