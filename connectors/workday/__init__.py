"""Workday: its Human_Resources SOAP service through zeep (workers with their personal data,
employment and certifications, page by page; incremental by the transaction log)."""

from connectors.workday.client import MAX_PAGE_SIZE, WorkdayConnector, WorkerPage
from connectors.workday.settings import WorkdaySettings

__all__ = ["MAX_PAGE_SIZE", "WorkdayConnector", "WorkdaySettings", "WorkerPage"]
