"""API 2022-08-31 and 2023-07-31: ``/formrecognizer/...?api-version=...`` (FormRecognizer v3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from ..errors import AuthorizationClaimsInvalid
from ..models import CopyAuthorization, ItemInfo, ItemKind, Operation, ResourceQuota
from ..ratelimit import LimitClass
from ..schema import doc_type_schema
from .base import (
    Dialect,
    Reply,
    Request,
    last_path_segment,
    parse_datetime,
    parse_service_error,
    parse_status,
)


def with_api_version(url: str, api_version: str) -> str:
    """Add ``api-version`` to a URL that lacks it (nextLink examples carry none; the Azure SDKs add it)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(name == "api-version" for name, _ in query):
        return url
    query.append(("api-version", api_version))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _format_expiry(auth: CopyAuthorization) -> str:
    if auth.expiration_raw:
        return auth.expiration_raw
    return auth.expires_at.isoformat().replace("+00:00", "Z")


class V3Dialect(Dialect):
    family: ClassVar[str] = "v3"
    prefix: ClassVar[str] = "/formrecognizer"

    # -- urls ----------------------------------------------------------------------------
    def _url(self, path: str, **params: str) -> str:
        query = urlencode({**params, "api-version": self.api_version})
        return f"{self.endpoint}{self.prefix}{path}?{query}"

    @staticmethod
    def _collection(kind: ItemKind) -> str:
        return "documentClassifiers" if kind is ItemKind.CLASSIFIER else "documentModels"

    @staticmethod
    def _id_field(kind: ItemKind) -> str:
        return "classifierId" if kind is ItemKind.CLASSIFIER else "modelId"

    @staticmethod
    def _target_fields(kind: ItemKind) -> tuple[str, str]:
        if kind is ItemKind.CLASSIFIER:
            return "targetClassifierId", "targetClassifierLocation"
        return "targetModelId", "targetModelLocation"

    # -- copy ----------------------------------------------------------------------------
    def authorize_copy(
        self, kind: ItemKind, target_id: str, description: str | None, tags: dict[str, str] | None
    ) -> Request:
        body: dict[str, Any] = {self._id_field(kind): target_id}
        if description is not None:
            body["description"] = description
        if tags:
            body["tags"] = dict(tags)
        return Request(
            "POST",
            self._url(f"/{self._collection(kind)}:authorizeCopy"),
            LimitClass.MANAGEMENT,
            (200, 201),
            json=body,
        )

    def parse_authorization(self, kind: ItemKind, target_id: str, reply: Reply) -> CopyAuthorization:
        body = reply.body
        if not isinstance(body, Mapping):
            raise ValueError("the authorize-copy reply has no JSON body")
        id_field, location_field = self._target_fields(kind)
        expiry = parse_datetime(body.get("expirationDateTime"))
        if expiry is None:
            raise ValueError("the authorize-copy reply has no valid expirationDateTime")
        return CopyAuthorization(
            kind=kind,
            target_id=str(body.get(id_field) or target_id),
            target_resource_id=str(body["targetResourceId"]),
            target_region=str(body["targetResourceRegion"]),
            target_location=str(body.get(location_field) or ""),
            expires_at=expiry,
            access_token=str(body["accessToken"]),
            api_version=self.api_version,
            expiration_raw=str(body["expirationDateTime"]),
        )

    def start_copy(
        self, kind: ItemKind, source_id: str, authorization: CopyAuthorization, allow_degrade: bool
    ) -> Request:
        if authorization.kind is not kind:
            raise AuthorizationClaimsInvalid(
                f"A {authorization.kind} authorization cannot copy a {kind}",
                alias=self.alias,
                item_id=source_id,
            )
        if authorization.expiration_ticks is not None or authorization.api_version == "2.1":
            raise AuthorizationClaimsInvalid(
                "This authorization was issued by a v2.1 target and cannot be used with API "
                f"{self.api_version}; authorize again at a target configured with a v3+ API version",
                alias=self.alias,
                item_id=source_id,
            )
        id_field, location_field = self._target_fields(kind)
        body = {
            "targetResourceId": authorization.target_resource_id,
            "targetResourceRegion": authorization.target_region,
            id_field: authorization.target_id,
            location_field: authorization.target_location,
            "accessToken": authorization.access_token.get_secret_value(),
            "expirationDateTime": _format_expiry(authorization),
        }
        headers = {"x-ms-forms-copy-degrade": "true"} if allow_degrade else {}
        return Request(
            "POST",
            self._url(f"/{self._collection(kind)}/{quote(source_id, safe='')}:copyTo"),
            LimitClass.MANAGEMENT,
            (202,),
            json=body,
            headers=headers,
            safe_to_resend=False,
        )

    # -- operations ----------------------------------------------------------------------
    def get_operation(self, operation_url: str) -> Request:
        return Request("GET", with_api_version(operation_url, self.api_version), LimitClass.STATUS, (200,))

    def parse_operation(self, operation_url: str, reply: Reply, retry_after: float | None) -> Operation:
        body = reply.body
        if not isinstance(body, Mapping):
            raise ValueError("the operation reply has no JSON body")
        op_kind = body.get("kind")
        result_body = body.get("result")
        result: ItemInfo | None = None
        if isinstance(result_body, Mapping):
            item_kind = (
                ItemKind.CLASSIFIER
                if "classifierId" in result_body or str(op_kind or "").startswith("documentClassifier")
                else ItemKind.MODEL
            )
            result = self.parse_item(item_kind, result_body)
        error = (
            parse_service_error({"error": body["error"]}) if isinstance(body.get("error"), Mapping) else None
        )
        resource_location = body.get("resourceLocation")
        percent = body.get("percentCompleted")
        return Operation(
            url=operation_url,
            status=parse_status(body.get("status")),
            raw_status=str(body.get("status")) if body.get("status") is not None else None,
            percent_completed=int(percent) if isinstance(percent, int | float) else None,
            retry_after=retry_after,
            created_at=parse_datetime(body.get("createdDateTime")),
            last_updated_at=parse_datetime(body.get("lastUpdatedDateTime")),
            resource_location=str(resource_location) if resource_location else None,
            error=error,
            result=result,
            target_id=result.id if result else last_path_segment(resource_location),
            operation_kind=str(op_kind) if op_kind else None,
        )

    # -- items ---------------------------------------------------------------------------
    def get_item(self, kind: ItemKind, item_id: str) -> Request:
        return Request(
            "GET",
            self._url(f"/{self._collection(kind)}/{quote(item_id, safe='')}"),
            LimitClass.MANAGEMENT,
            (200,),
        )

    def parse_item(self, kind: ItemKind, body: Any) -> ItemInfo:
        if not isinstance(body, Mapping):
            raise ValueError("the item reply has no JSON body")
        item_id = str(body.get(self._id_field(kind)) or "")
        shown = isinstance(body.get("docTypes"), Mapping)
        doc_types = body.get("docTypes") if shown else {}
        assert isinstance(doc_types, Mapping)
        components: list[str] = []
        modes: set[str] = set()
        for details in doc_types.values():
            if not isinstance(details, Mapping):
                continue
            component = details.get("modelId")
            if component and component not in components:
                components.append(str(component))
            if details.get("buildMode"):
                modes.add(str(details["buildMode"]))
        classifier_id = body.get("classifierId") if kind is ItemKind.MODEL else None
        if classifier_id:
            components.append(str(classifier_id))
        # Top-level buildMode exists from 2024-02-29-preview; before that, use the doc types'
        # mode when they agree (composed models of mixed modes get None).
        build_mode = body.get("buildMode") or (next(iter(modes)) if len(modes) == 1 else None)
        tags = body.get("tags") if isinstance(body.get("tags"), Mapping) else {}
        assert isinstance(tags, Mapping)
        return ItemInfo(
            kind=kind,
            id=item_id,
            description=body.get("description"),
            created_at=parse_datetime(body.get("createdDateTime")),
            expires_at=parse_datetime(body.get("expirationDateTime")),
            modified_at=parse_datetime(body.get("modifiedDateTime")),
            api_version=body.get("apiVersion"),
            tags={str(k): str(v) for k, v in tags.items()},
            doc_types=[str(name) for name in doc_types],
            field_schemas=doc_type_schema(doc_types) if shown else None,
            build_mode=str(build_mode) if build_mode else None,
            component_ids=components,
            classifier_id=str(classifier_id) if classifier_id else None,
            ready=True,
            is_prebuilt=item_id.startswith("prebuilt-"),
            legacy_v21=False,
        )

    def list_items(self, kind: ItemKind) -> Request:
        return Request("GET", self._url(f"/{self._collection(kind)}"), LimitClass.LIST, (200,))

    def next_page(self, kind: ItemKind, next_link: str) -> Request:
        return Request("GET", with_api_version(next_link, self.api_version), LimitClass.LIST, (200,))

    def parse_page(self, kind: ItemKind, body: Any) -> tuple[list[ItemInfo], str | None]:
        if not isinstance(body, Mapping):
            raise ValueError("the list reply has no JSON body")
        items = [
            self.parse_item(kind, entry) for entry in body.get("value") or [] if isinstance(entry, Mapping)
        ]
        next_link = body.get("nextLink") or None
        return items, str(next_link) if next_link else None

    def delete_item(self, kind: ItemKind, item_id: str) -> Request:
        return Request(
            "DELETE",
            self._url(f"/{self._collection(kind)}/{quote(item_id, safe='')}"),
            LimitClass.MANAGEMENT,
            (204, 200),
        )

    # -- resource ------------------------------------------------------------------------
    def get_quota(self) -> Request:
        return Request("GET", self._url("/info"), LimitClass.LIST, (200,))

    def parse_quota(self, body: Any) -> ResourceQuota:
        if not isinstance(body, Mapping) or not isinstance(body.get("customDocumentModels"), Mapping):
            raise ValueError("the resource info reply has no customDocumentModels")
        models = body["customDocumentModels"]
        return ResourceQuota(count=int(models["count"]), limit=int(models["limit"]))
