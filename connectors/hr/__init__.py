"""HR: the certifications feed in (technicians' certifications, page by page by cursor)."""

from connectors.hr.client import HRConnector
from connectors.hr.settings import HRSettings

__all__ = ["HRConnector", "HRSettings"]
