"""Small builders for values that many tests need."""

from __future__ import annotations

from datetime import datetime

from shared.docintel import CopyAuthorization, ItemKind


def copy_authorization(
    expires: datetime, target_id: str = "invoice", token: str = "tok"
) -> CopyAuthorization:
    """A model copy authorization for westus2, as a target would issue it."""
    return CopyAuthorization(
        kind=ItemKind.MODEL,
        target_id=target_id,
        target_resource_id="/subscriptions/0/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/w",
        target_region="westus2",
        target_location=f"https://w.cognitiveservices.azure.com/documentintelligence/documentModels/{target_id}",
        expires_at=expires,
        access_token=token,
        api_version="2024-11-30",
    )
