"""The Workday connector: Workday's Human_Resources SOAP service, in the connectors' vocabulary.

One zeep ``Client`` loaded from ``WSDL_DIR/Human_Resources.wsdl`` (the project's compact WSDL
or Workday's own: the SOAP 1.1 binding is picked either way), in strict mode, its requests
signed with a WS-Security UsernameToken (``user@tenant``, the password as text), and bound
to ``URL/Human_Resources/VERSION`` (the WSDL's address, a bare name, is never used). zeep
serializes every request and deserializes every answer; HTTP goes over a ``PinnedSession``
(timeout and CA bundle always applied). Every call takes one path (``_call``): one POST, the
answer or the failure translated (``connectors.workday.errors``), and the shared retry policy
around it. Each attempt is one request, counted in ``api_calls``.

Workers are read with ``Get_Workers`` (``worker_pages``): ``Response_Filter/Page`` and
``Count`` (at most 999), with ``As_Of_Entry_DateTime`` (and ``As_Of_Effective_Date``) held
constant across one read's pages so that the pages agree; an incremental read selects the
workers with any transaction in ``Transaction_Log_Criteria_Data/Transaction_Date_Range_Data``
(``Updated_From`` to ``Updated_Through``).

Not thread-safe: use one connector per thread (or per task).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport
from zeep.wsdl.bindings.soap import Soap11Binding
from zeep.wsse.username import UsernameToken

from connectors.base import Connector
from connectors.errors import ConnectorError, Permanent
from connectors.sap import plain
from connectors.workday.errors import (
    SYSTEM,
    from_fault,
    from_requests,
    from_status,
)
from connectors.workday.settings import ENV_PREFIX, WorkdaySettings

__all__ = ["MAX_PAGE_SIZE", "RESPONSE_GROUP", "WorkdayConnector", "WorkerPage"]

MAX_PAGE_SIZE = 999
ORGANIZATION_ID = "Organization_Reference_ID"
RESPONSE_GROUP: dict[str, bool] = {
    "Include_Reference": True,
    "Include_Personal_Information": True,  # name, work e-mail and phone
    "Include_Employment_Information": True,  # active, terminated, on leave; the job profile
    "Include_Organizations": True,  # for the technician filter
    "Exclude_Organization_Support_Role_Data": True,
    "Exclude_Location_Hierarchies": True,
    "Exclude_Cost_Center_Hierarchies": True,
    "Exclude_Company_Hierarchies": True,
    "Exclude_Region_Hierarchies": True,
    "Include_Qualifications": True,  # certifications
}
"""What ``Get_Workers`` is asked to return with each worker."""


class WorkerPage(list[dict[str, Any]]):
    """One page of workers (``plain`` data in the shape of the response's ``Worker``), with
    where it stands: its ``page`` of ``total_pages``, ``total_results`` in all, and the
    ``as_of`` moment the whole read is as of."""

    def __init__(
        self,
        workers: list[dict[str, Any]],
        *,
        page: int,
        total_pages: int,
        total_results: int,
        as_of: datetime,
    ) -> None:
        super().__init__(workers)
        self.page = page
        self.total_pages = total_pages
        self.total_results = total_results
        self.as_of = as_of


class _Transport(Transport):
    """zeep's transport over our session: an answer that is not a SOAP envelope (a proxy's
    page, a 401 from a gateway) is the HTTP status's, raised before zeep reads it."""

    def __init__(self, session: requests.Session, timeout_s: float) -> None:
        super().__init__(session=session, timeout=timeout_s, operation_timeout=timeout_s)

    def post_xml(self, address: str, envelope: Any, headers: Any) -> requests.Response:
        response: requests.Response = super().post_xml(address, envelope, headers)
        media = response.headers.get("Content-Type", "text/xml").split(";")[0].strip().lower()
        if response.status_code >= 300 and not media.endswith("xml"):
            raise from_status(response.status_code, response.text)
        return response


class WorkdayConnector(Connector[WorkdaySettings]):
    """Workday's Human_Resources service. Raises only the connectors' vocabulary
    (``connectors.errors``); ``ValueError`` for a bad argument.

    ``api_calls`` counts requests sent (every attempt, retries included).
    """

    system = SYSTEM

    def __init__(self, settings: WorkdaySettings, **options: Any) -> None:
        """No I/O here (the WSDL is read on first use); ``options``: the base connector's
        (``sleep``, ``backoff_base_s``, ``backoff_max_s``, ``max_total_s``)."""
        super().__init__(settings, **options)
        self.transport = _Transport(self.session, settings.timeout_s)
        self._service: Any = None

    # -- reading --------------------------------------------------------------------------

    def worker_pages(
        self,
        updated_from: datetime | None = None,
        updated_through: datetime | None = None,
        *,
        as_of: datetime | None = None,
        organizations: Sequence[str] = (),
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[WorkerPage]:
        """Every worker (with ``updated_from``: those with a transaction from then up to
        ``updated_through``, default ``as_of``), page by page (``Page`` 1, 2, ... of
        ``Total_Pages``), each page fetch retried on its own; empty pages are skipped.

        ``as_of`` (default: now) is sent as every page's ``As_Of_Entry_DateTime`` and its date
        as ``As_Of_Effective_Date``, so the pages of one read agree. ``organizations``:
        ``Organization_Reference_ID``s to read the workers of only. Date-times must carry
        their time zone. Workers are as Workday sends them: malformed ones included.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        moment = _aware(as_of, "as_of") if as_of is not None else datetime.now(UTC)
        criteria: dict[str, Any] = {}
        if updated_from is not None:
            through = _aware(updated_through, "updated_through") if updated_through else moment
            start = _aware(updated_from, "updated_from")
            if start > through:
                raise ValueError("updated_from is after updated_through")
            criteria["Transaction_Log_Criteria_Data"] = [
                {"Transaction_Date_Range_Data": {"Updated_From": start, "Updated_Through": through}}
            ]
        elif updated_through is not None:
            raise ValueError("updated_through without updated_from")
        if organizations:
            criteria["Organization_Reference"] = [
                {"ID": [{"_value_1": org, "type": ORGANIZATION_ID}]} for org in organizations
            ]
        page, total_pages = 1, 1
        while page <= total_pages:
            answer = self._call(
                {
                    "version": self.settings.version,
                    "Request_Criteria": criteria or None,
                    "Response_Filter": {
                        "As_Of_Effective_Date": moment.date(),
                        "As_Of_Entry_DateTime": moment,
                        "Page": page,
                        "Count": page_size,
                    },
                    "Response_Group": RESPONSE_GROUP,
                }
            )
            results = answer.get("Response_Results") or {}
            answered = int(results.get("Page") or page)
            total_pages = int(results.get("Total_Pages") or 0)
            if answered != page:
                raise Permanent(
                    SYSTEM, f"asked for page {page}, Workday answered page {answered}", 200
                )
            workers: list[dict[str, Any]] = (answer.get("Response_Data") or {}).get("Worker") or []
            if workers:
                yield WorkerPage(
                    workers,
                    page=page,
                    total_pages=total_pages,
                    total_results=int(results.get("Total_Results") or 0),
                    as_of=moment,
                )
            page += 1

    # -- the service ----------------------------------------------------------------------

    def service(self) -> Any:
        """The zeep service proxy bound to ``URL/Human_Resources/VERSION`` (made once)."""
        if self._service is None:
            self._service = self._bind()
        return self._service

    def _bind(self) -> Any:
        path = self.settings.wsdl
        try:
            client = zeep.Client(
                str(path),
                transport=self.transport,
                wsse=UsernameToken(*self.settings.credentials()),
                settings=zeep.Settings(strict=True),
            )
        except (zeep.exceptions.Error, etree.LxmlError, OSError) as exc:
            raise Permanent(SYSTEM, f"cannot read {path} ({ENV_PREFIX}WSDL_DIR): {exc}") from exc
        for binding in client.wsdl.bindings.values():
            if isinstance(binding, Soap11Binding) and "Get_Workers" in binding._operations:
                return client.create_service(binding.name, self.settings.endpoint)
        raise Permanent(SYSTEM, f"{path} has no SOAP 1.1 binding with Get_Workers")

    # -- the one path every call takes ----------------------------------------------------

    def _call(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        proxy = self.service()
        result: dict[str, Any] = self._policy.copy()(self._attempt, proxy, arguments)
        return result

    def _attempt(self, proxy: Any, arguments: Mapping[str, Any]) -> dict[str, Any]:
        self.api_calls += 1
        try:
            answer = proxy.Get_Workers(**arguments)
        except ConnectorError:
            raise
        except requests.RequestException as exc:
            raise from_requests(exc) from exc
        except zeep.exceptions.Fault as exc:
            kind, notes = _detail(exc.detail)
            raise from_fault(exc.message, exc.code, kind, notes) from exc
        except zeep.exceptions.TransportError as exc:
            raise from_status(exc.status_code, exc.content) from exc
        except (zeep.exceptions.Error, etree.LxmlError, ValueError, TypeError) as exc:
            why = f"the answer to Get_Workers does not fit the WSDL: {exc}"
            raise Permanent(SYSTEM, why) from exc
        result = plain(answer) if answer is not None else {}
        if not isinstance(result, dict):
            raise Permanent(SYSTEM, "the answer to Get_Workers is not a message", 200)
        return result


def _aware(moment: datetime | None, name: str) -> datetime:
    if moment is None or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be time-zone aware")
    return moment.astimezone(UTC)


def _detail(detail: Any) -> tuple[str | None, list[str]]:
    """The kind of a fault's detail (its first element's local name) and its messages."""
    if detail is None or not isinstance(detail, etree._Element) or not len(detail):
        return None, []
    first = detail[0]
    kind = etree.QName(first).localname if isinstance(first.tag, str) else None
    texts = [
        str(node.text).strip()
        for node in first.iter()
        if isinstance(node.tag, str)
        and etree.QName(node).localname in ("Message", "Detail_Message")
        and node.text
        and node.text.strip()
    ]
    return kind, list(dict.fromkeys(texts))
