"""``SAPSimulator``: SAP Business ByDesign's web services over real HTTPS on loopback, in a
background thread.

    with SAPSimulator(seed=1, customers=100, stocks=50) as sap:
        os.environ.update(sap.env())   # FIELDBRIDGE_SAP_URL, _USERNAME, _PASSWORD, ...

A throwaway CA (``trustme``) signs the server's certificate for 127.0.0.1 and localhost; its
PEM is at ``ca_path``. The services are read from the project's WSDLs (``wsdl_dir``, by
default ``wsdl/sap-bydesign`` of the repository this package sits in), never from ours
imports: the sandbox stands for the outside world.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sandbox._controls import Controls
from sandbox._server import LoopbackSimulator
from sandbox.sap.app import SERVICES, Credentials, Desk, SAPApp, SoapService
from sandbox.sap.customers import Customers
from sandbox.sap.invoices import InvoiceRequests
from sandbox.sap.stocks import Stocks

__all__ = ["DEFAULT_WSDL_DIR", "SAPSimulator", "Touched"]

DEFAULT_WSDL_DIR = Path(__file__).resolve().parents[2] / "wsdl" / "sap-bydesign"
DEFAULT_USERNAME = "_FIELDBRIDGE"


@dataclass(frozen=True)
class Touched:
    """What ``touch`` (``touch_stock``) changed: the customers' InternalIDs (the
    IdentifiedStockIDs) and the one last-change date-time they now share."""

    ids: list[str]
    stamp: datetime


def _derived_password(seed: int, generation: int) -> str:
    digest = hashlib.sha256(f"fieldbridge-sap-{seed}-{generation}".encode()).hexdigest()
    return f"Sap{digest[:24]}!"


class SAPSimulator(LoopbackSimulator, Controls):
    """SAP Business ByDesign on ``https://127.0.0.1:<port>``: ``QueryCustomerIn`` (SOAP 1.1,
    ``FindByElements``) at ``/sap/bc/srt/scs/sap/querycustomerin1`` and, when its WSDL is
    there, ``ManageCustomerInvoiceRequestIn`` (``MaintainBundle``, idempotent by the message
    header's UUID) at ``/sap/bc/srt/scs/sap/managecustomerinvoicerequesti4`` and
    ``QueryCustomerInvoiceIn`` (``FindByElements`` by base document) at
    ``/sap/bc/srt/scs/sap/querycustomerinvoicein`` and ``QueryIdentifiedStocksIn``
    (``QueryByElements``: equipment) at ``/sap/bc/srt/scs/sap/queryidentifiedstocksin``;
    HTTP Basic auth.

    ``seed`` fixes the password (unless ``password`` is given), the data set and the records
    ``touch(n)`` picks; ``customers`` billing accounts, a share ``malformed`` of them
    malformed on purpose; ``stocks`` pieces of equipment (identified stock), the same share
    malformed.
    ``faults`` takes the settings of ``set_faults`` (e.g. ``{"rate": 0.3, "seed": 7}``).
    ``workdir`` keeps the CA and the server certificate (a temporary directory, removed on
    stop, when omitted); ``wsdl_dir`` is where the project's WSDLs are.
    """

    def __init__(
        self,
        seed: int = 1,
        *,
        customers: int = 100,
        stocks: int = 50,
        malformed: float = 0.01,
        faults: Mapping[str, Any] | None = None,
        port: int = 0,
        workdir: str | Path | None = None,
        username: str = DEFAULT_USERNAME,
        password: str | None = None,
        wsdl_dir: str | Path | None = None,
    ) -> None:
        if customers < 0:
            raise ValueError("customers cannot be negative")
        if stocks < 0:
            raise ValueError("stocks cannot be negative")
        if not 0.0 <= malformed <= 1.0:
            raise ValueError("malformed must be between 0 and 1")
        super().__init__(
            "SAP simulator", port=port, workdir=workdir, workdir_prefix="fieldbridge-sap-"
        )
        self._seed = seed
        self._generation = 0
        self._given_password = password
        self.wsdl_dir = Path(wsdl_dir).resolve() if wsdl_dir is not None else DEFAULT_WSDL_DIR
        services = {
            name: SoapService(self.wsdl_dir / f"{name}.wsdl")
            for name in SERVICES
            if (self.wsdl_dir / f"{name}.wsdl").is_file()
        }
        if "QueryCustomerIn" not in services:
            raise FileNotFoundError(f"no QueryCustomerIn.wsdl in {self.wsdl_dir}")
        register = Customers(seed=seed)
        register.seed(customers, malformed)
        equipment = Stocks(seed=seed)
        equipment.seed(stocks, malformed)
        self._desk = Desk(
            register,
            Credentials(username, password or _derived_password(seed, 0)),
            services,
            InvoiceRequests(seed=seed),
            stocks=equipment,
        )
        if faults:
            self.set_faults(**faults)

    def _app(self) -> Any:
        return SAPApp(self._desk, self._http.state).app

    @property
    def _shared(self) -> Desk:
        return self._desk

    # --- where it is (and ``url``, ``port``, ``workdir``, ``ca_path``) ---------------------

    def service_url(self, service: str = "QueryCustomerIn") -> str:
        return self.url + SERVICES[service]

    @property
    def username(self) -> str:
        with self._desk.lock:
            return self._desk.credentials.username

    @property
    def password(self) -> str:
        """The password SAP accepts now."""
        with self._desk.lock:
            return self._desk.credentials.password

    def env(self) -> dict[str, str]:
        """The settings that point fieldbridge at this SAP system."""
        return {
            "FIELDBRIDGE_SAP_WSDL_DIR": str(self.wsdl_dir),
            "FIELDBRIDGE_SAP_URL": self.url,
            "FIELDBRIDGE_SAP_USERNAME": self.username,
            "FIELDBRIDGE_SAP_PASSWORD": self.password,
            "FIELDBRIDGE_SAP_CA_BUNDLE": str(self.ca_path),
        }

    def change_password(self, password: str | None = None) -> str:
        """A new password for the communication user (the old one is refused from now on);
        it is returned and now ``password``."""
        with self._desk.lock:
            self._generation += 1
            new = password or (
                f"{self._given_password}.{self._generation}"
                if self._given_password is not None
                else _derived_password(self._seed, self._generation)
            )
            self._desk.credentials.password = new
            return new

    # --- data ------------------------------------------------------------------------------

    def count(self) -> int:
        """Customers a query can find now."""
        return self._desk.customers.count()

    def get(self, internal_id: str) -> dict[str, Any] | None:
        """One customer in the shape of the response's ``Customer`` element, or None."""
        return self._desk.customers.get(internal_id)

    def records(self) -> list[dict[str, Any]]:
        """Every customer in the shape of the response's ``Customer`` element (elements left
        out when empty, ``LastChangeDateTime`` an aware UTC datetime), by ``InternalID``."""
        return self._desk.customers.all()

    def malformed_ids(self) -> set[str]:
        """InternalIDs of the customers seeded malformed on purpose (and still there)."""
        with self._desk.customers.lock:
            return set(self._desk.customers.malformed)

    def malformed_reasons(self) -> dict[str, str]:
        """InternalID -> reason: no_name, invalid_country, email_without_at."""
        with self._desk.customers.lock:
            return dict(self._desk.customers.malformed)

    def touch(
        self, n_or_ids: int | Sequence[str], fields: Mapping[str, Any] | None = None
    ) -> Touched:
        """Change customers in one batch, so that they share one new ``LastChangeDateTime``:
        ``n_or_ids`` customers picked by the seeded generator, or these InternalIDs.
        ``fields`` are flat names (FirstLineName, LifeCycleStatusCode, EmailURI, Telephone,
        CountryCode, CityName, StreetPostalCode, StreetName, HouseID); without them each gets
        a typical change (a new telephone number or e-mail address); malformed customers are
        only stamped."""
        ids, stamp = self._desk.customers.touch(n_or_ids, fields)
        return Touched(ids, stamp)

    def delete(self, internal_id: str) -> None:
        """The customer is gone: queries no longer find it (they carry no deletion flag)."""
        self._desk.customers.delete(internal_id)

    # --- equipment: identified stock (QueryIdentifiedStocksIn) ------------------------------

    def stock_count(self) -> int:
        """Identified stock a query can find now."""
        return self._desk.stocks.count()

    def stock(self, stock_id: str) -> dict[str, Any] | None:
        """One identified stock in the shape of the response's ``IdentifiedStock`` element,
        or None."""
        return self._desk.stocks.get(stock_id)

    def stock_records(self) -> list[dict[str, Any]]:
        """Every identified stock in the shape of the response's ``IdentifiedStock`` element
        (elements left out when empty, date-times aware UTC datetimes, a ``Description``
        ``{"_value_1": text, "languageCode": "EN"}``), by ``IdentifiedStockID``. The element
        carries no change date-time: see ``stock_stamp``."""
        return self._desk.stocks.all()

    def stock_stamp(self, stock_id: str) -> datetime | None:
        """When the identified stock last changed (SAP's administrative last-change
        date-time, what ``SelectionByAdministrativeDataLastChangeDateTime`` selects by)."""
        return self._desk.stocks.stamp(stock_id)

    def malformed_stock_ids(self) -> set[str]:
        """IdentifiedStockIDs of the identified stock seeded malformed on purpose (and still
        there)."""
        with self._desk.stocks.lock:
            return set(self._desk.stocks.malformed)

    def malformed_stock_reasons(self) -> dict[str, str]:
        """IdentifiedStockID -> reason: no_product, blank_description,
        produced_after_expiry."""
        with self._desk.stocks.lock:
            return dict(self._desk.stocks.malformed)

    def touch_stock(
        self, n_or_ids: int | Sequence[str], fields: Mapping[str, Any] | None = None
    ) -> Touched:
        """Change identified stock in one batch, so that they share one new last-change
        date-time: ``n_or_ids`` picked by the seeded generator, or these IdentifiedStockIDs.
        ``fields`` are ExternalIdentifiedStockID, ProductID, ProductionDateTime,
        ExpirationDateTime, SupplierID (a party ID), LifeCycleStatusCode (a code: 1 in
        preparation, 2 active, 3 blocked, 4 obsolete), Description (an English text, or the
        list); None removes one. Without them each gets a typical change (blocked or active
        again, warranty extended, description corrected); malformed ones are only
        stamped."""
        ids, stamp = self._desk.stocks.touch(n_or_ids, fields)
        return Touched(ids, stamp)

    def delete_stock(self, stock_id: str) -> None:
        """The identified stock is gone: queries no longer find it (they carry no deletion
        flag)."""
        self._desk.stocks.delete(stock_id)

    # --- billing requests (ManageCustomerInvoiceRequestIn) ---------------------------------

    def invoice_requests(self) -> list[dict[str, Any]]:
        """Every customer invoice request ``MaintainBundle`` created, in order: the request's
        ``CustomerInvoiceRequest`` as plain data (``BaseBusinessTransactionDocumentID``,
        ``Name``, ``BuyerParty``, ``Item`` with ``ProductID``, ``Quantity``, ``unitCode``,
        ...) with SAP's ``ID``, ``UUID``, ``ChangeStateID``, ``CreationDateTime`` and the
        ``MessageUUID`` that created it."""
        return self._desk.invoices.all()

    def bill(self, document_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Run billing: one released customer invoice of each invoice request not invoiced
        yet (only those for these base documents, when given), in the shape of the query
        response's ``CustomerInvoice``; the invoices made are returned."""
        return self._desk.invoices.bill(list(document_ids) if document_ids is not None else None)

    def invoices(self) -> list[dict[str, Any]]:
        """Every customer invoice billing made, by ID, as ``QueryCustomerInvoiceIn`` answers
        it."""
        return self._desk.invoices.all_invoices()

    def amend_request(
        self,
        document_id: str,
        item_id: str,
        *,
        quantity: Decimal | None = None,
        product_id: str | None = None,
        unit: str | None = None,
        remove: bool = False,
    ) -> dict[str, Any]:
        """Edit the invoice request for this base document before billing runs, as an SAP
        user may: one item (``item_id``: ``10``, ``20``, ... in the order sent) gets another
        ``quantity``, ``product_id`` or ``unit``, or is removed. The invoice ``bill`` makes of
        it then differs from what was requested. The request as it now stands; ``KeyError``
        for no such request or item, ``ValueError`` once it is invoiced."""
        return self._desk.invoices.amend(
            document_id, item_id, quantity=quantity, product_id=product_id, unit=unit,
            remove=remove,
        )  # fmt: skip

    def requests_by_uuid(self, message_uuid: str) -> list[dict[str, Any]]:
        """The ledger's entries for the messages carrying this
        ``BusinessDocumentBasicMessageHeader/UUID`` (faulted ones too), in order."""
        wanted = message_uuid.strip().lower()
        return [e for e in self.ledger() if e.get("message_uuid") == wanted]

    # --- the ledger (faults, clear_ledger: Controls) ---------------------------------------

    def ledger(self) -> list[dict[str, Any]]:
        """Every service request served, in order: seq, at, method, path, service,
        operation, status, fault (None, or the fault that answered it), message_uuid (the
        ``BusinessDocumentBasicMessageHeader/UUID`` it carried, lower case, or None) and the
        request's XML as it came."""
        with self._desk.lock:
            return [dict(e) for e in self._desk.ledger]
