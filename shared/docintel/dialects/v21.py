"""API v2.1: ``/formrecognizer/v2.1/custom/models/...`` (models only; GUID ids minted by the service).

Differences the rest of the app never sees:

* Authorize (``POST custom/models/copyAuthorization`` → 201) takes no body: the *target* mints
  the new model's GUID, so the caller's ``target_id``, ``description`` and ``tags`` are ignored
  and ``CopyAuthorization.target_id`` is the GUID the target returned.
* The reply carries neither the target resource id nor its region, yet the copy request needs
  both: they come from configuration (``DocIntelClient(resource_id=..., region=...)`` of the
  *target*) and are filled into the authorization.
* Progress is ``GET custom/models/{id}/copyResults/{resultId}`` with ``copyResult.errors[]``.
* No tags, no description (``modelName`` is surfaced as the description), no classifiers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from ..errors import AuthorizationClaimsInvalid, InvalidTargetResource
from ..models import CopyAuthorization, ItemInfo, ItemKind, Operation, ResourceQuota, ServiceError
from ..ratelimit import LimitClass
from ..schema import v21_schema
from .base import Dialect, Reply, Request, header, parse_datetime, parse_status

_DOTNET_EPOCH_TICKS = 621_355_968_000_000_000  # .NET ticks at 1970-01-01T00:00:00Z
_TICKS_PER_SECOND = 10_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def expiry_from_ticks(ticks: int, *, received_at: datetime | None = None) -> datetime:
    """Interpret ``expirationDateTimeTicks`` (unit UNCONFIRMED, see api notes §1).

    * ``>= 10**11``: .NET ticks (100 ns since 0001-01-01) — the MS docs example 637233481531659440.
    * ``< 10**11``: seconds since the Unix epoch — the spec's description.
    * Inferred extra: values below 10**9 (before 2001-09-09, impossible for a fresh token) are read
      as a lifetime in seconds from when the reply was received — the spec example is 86400, i.e.
      the documented 24 h lifetime; reading it as an epoch would make every token look expired.
    """
    if ticks >= 10**11:
        return _EPOCH + timedelta(seconds=(ticks - _DOTNET_EPOCH_TICKS) / _TICKS_PER_SECOND)
    if ticks < 10**9:
        return (received_at or datetime.now(UTC)) + timedelta(seconds=ticks)
    return _EPOCH + timedelta(seconds=ticks)


class V21Dialect(Dialect):
    family: ClassVar[str] = "v2.1"
    prefix: ClassVar[str] = "/formrecognizer/v2.1"

    def _url(self, path: str) -> str:
        return f"{self.endpoint}{self.prefix}{path}"

    def _models(self, model_id: str | None = None) -> str:
        if model_id is None:
            return self._url("/custom/models")
        return self._url(f"/custom/models/{quote(model_id, safe='')}")

    # -- copy ----------------------------------------------------------------------------
    def authorize_copy(
        self, kind: ItemKind, target_id: str, description: str | None, tags: dict[str, str] | None
    ) -> Request:
        if not self.resource_id or not self.region:
            raise InvalidTargetResource(
                "API v2.1 copy authorizations do not name the target resource; configure the target's "
                "resource_id (ARM id) and region for this resource",
                alias=self.alias,
                item_id=target_id,
            )
        # target_id / description / tags are ignored: v2.1 mints the target GUID itself.
        return Request(
            "POST", self._url("/custom/models/copyAuthorization"), LimitClass.MANAGEMENT, (201, 200), json={}
        )

    def parse_authorization(self, kind: ItemKind, target_id: str, reply: Reply) -> CopyAuthorization:
        body = reply.body
        if not isinstance(body, Mapping):
            raise ValueError("the copy-authorization reply has no JSON body")
        model_id = str(body["modelId"])
        ticks = int(body["expirationDateTimeTicks"])
        location = header(reply.headers, "Location") or self._models(model_id)
        assert self.resource_id and self.region
        return CopyAuthorization(
            kind=ItemKind.MODEL,
            target_id=model_id,
            target_resource_id=self.resource_id,
            target_region=self.region,
            target_location=location,
            expires_at=expiry_from_ticks(ticks),
            access_token=str(body["accessToken"]),
            api_version="2.1",
            expiration_ticks=ticks,
        )

    def start_copy(
        self, kind: ItemKind, source_id: str, authorization: CopyAuthorization, allow_degrade: bool
    ) -> Request:
        if authorization.expiration_ticks is None or authorization.kind is not ItemKind.MODEL:
            raise AuthorizationClaimsInvalid(
                "API v2.1 can only use a model authorization issued by a v2.1 target; authorize again at a "
                "target configured with API v2.1",
                alias=self.alias,
                item_id=source_id,
            )
        body = {
            "targetResourceId": authorization.target_resource_id,
            "targetResourceRegion": authorization.target_region,
            "copyAuthorization": {
                "modelId": authorization.target_id,
                "accessToken": authorization.access_token.get_secret_value(),
                "expirationDateTimeTicks": authorization.expiration_ticks,
            },
        }
        headers = {"x-ms-forms-copy-degrade": "true"} if allow_degrade else {}
        return Request(
            "POST",
            self._models(source_id) + "/copy",
            LimitClass.MANAGEMENT,
            (202,),
            json=body,
            headers=headers,
            safe_to_resend=False,
        )

    # -- operations ----------------------------------------------------------------------
    def get_operation(self, operation_url: str) -> Request:
        return Request("GET", operation_url, LimitClass.STATUS, (200,))

    def parse_operation(self, operation_url: str, reply: Reply, retry_after: float | None) -> Operation:
        body = reply.body
        if not isinstance(body, Mapping):
            raise ValueError("the copy-result reply has no JSON body")
        copy_result = body.get("copyResult") if isinstance(body.get("copyResult"), Mapping) else {}
        assert isinstance(copy_result, Mapping)
        errors = [e for e in copy_result.get("errors") or [] if isinstance(e, Mapping)]
        error: ServiceError | None = None
        if errors:
            # Several errors: the first one classifies; the others are appended to its message.
            first = errors[0]
            message = "; ".join(str(e.get("message") or "") for e in errors if e.get("message"))
            error = ServiceError(code=str(first.get("code") or ""), message=message)
        target = copy_result.get("modelId")
        return Operation(
            url=operation_url,
            status=parse_status(body.get("status")),
            raw_status=str(body.get("status")) if body.get("status") is not None else None,
            percent_completed=None,
            retry_after=retry_after,
            created_at=parse_datetime(body.get("createdDateTime")),
            last_updated_at=parse_datetime(body.get("lastUpdatedDateTime")),
            resource_location=None,
            error=error,
            result=None,
            target_id=str(target) if target else None,
        )

    # -- items ---------------------------------------------------------------------------
    def get_item(self, kind: ItemKind, item_id: str) -> Request:
        return Request("GET", self._models(item_id), LimitClass.MANAGEMENT, (200,))

    def parse_item(self, kind: ItemKind, body: Any) -> ItemInfo:
        if not isinstance(body, Mapping):
            raise ValueError("the model reply has no JSON body")
        info = body.get("modelInfo", body)
        if not isinstance(info, Mapping):
            raise ValueError("the model reply has no modelInfo")
        components: list[str] = []
        for train_result in body.get("composedTrainResults") or []:
            if isinstance(train_result, Mapping) and train_result.get("modelId"):
                components.append(str(train_result["modelId"]))
        model_id = str(info.get("modelId") or "")
        status = info.get("status")
        return ItemInfo(
            kind=ItemKind.MODEL,
            id=model_id,
            description=info.get("modelName"),
            created_at=parse_datetime(info.get("createdDateTime")),
            expires_at=None,
            modified_at=parse_datetime(info.get("lastUpdatedDateTime")),
            api_version="2.1",
            tags={},
            doc_types=[],
            build_mode=None,
            component_ids=components,
            classifier_id=None,
            ready=str(status).lower() == "ready",
            is_prebuilt=model_id.startswith("prebuilt-"),
            legacy_v21=True,
            status=str(status) if status is not None else None,
            field_schemas=v21_schema(body),
        )

    def list_items(self, kind: ItemKind) -> Request:
        return Request("GET", self._models() + "?op=full", LimitClass.LIST, (200,))

    def next_page(self, kind: ItemKind, next_link: str) -> Request:
        return Request("GET", next_link, LimitClass.LIST, (200,))

    def parse_page(self, kind: ItemKind, body: Any) -> tuple[list[ItemInfo], str | None]:
        if not isinstance(body, Mapping):
            raise ValueError("the model list reply has no JSON body")
        items = [
            self.parse_item(kind, entry)
            for entry in body.get("modelList") or []
            if isinstance(entry, Mapping)
        ]
        next_link = body.get("nextLink") or None  # the last page has nextLink ""
        return items, str(next_link) if next_link else None

    def delete_item(self, kind: ItemKind, item_id: str) -> Request:
        return Request("DELETE", self._models(item_id), LimitClass.MANAGEMENT, (204, 200))

    # -- resource ------------------------------------------------------------------------
    def get_quota(self) -> Request:
        return Request("GET", self._models() + "?op=summary", LimitClass.LIST, (200,))

    def parse_quota(self, body: Any) -> ResourceQuota:
        if not isinstance(body, Mapping) or not isinstance(body.get("summary"), Mapping):
            raise ValueError("the models summary reply has no summary")
        summary = body["summary"]
        return ResourceQuota(count=int(summary["count"]), limit=int(summary["limit"]))
