"""The API quota guard: stop before our share of the org's daily allocation is spent.

Salesforce reports the org's usage on every REST answer as
``Sforce-Limit-Info: api-usage=USED/MAX`` (parsed with simple-salesforce's
``Salesforce.parse_api_usage``). The count is the whole org's, other integrations included,
over a rolling 24 hours. Before each call the guard refuses when one more call would take
USED/MAX past ``QUOTA_SHARE``; until the first answer it knows nothing and lets calls pass.

``QuotaExhausted`` is a ``RateLimited`` (so a caller that backs off on rate limiting does the
right thing without knowing it), with no ``retry_after_s`` (the window rolls); the retry
policy never retries it, so a sync run stops cleanly at once.
"""

from __future__ import annotations

from simple_salesforce import Salesforce
from simple_salesforce.util import Usage

from connectors.errors import RateLimited
from connectors.salesforce.errors import SYSTEM

__all__ = ["QuotaExhausted", "QuotaGuard"]


class QuotaExhausted(RateLimited):
    """Our share of the daily API allocation is used: no further calls until usage falls."""


class QuotaGuard:
    def __init__(self, share: float) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.share = share
        self.used: int | None = None
        self.max: int | None = None

    def observe_header(self, sforce_limit_info: str | None) -> None:
        """Take the usage from an answer's ``Sforce-Limit-Info`` header, if it has one."""
        if not sforce_limit_info:
            return
        usage = Salesforce.parse_api_usage(sforce_limit_info).get("api-usage")
        if isinstance(usage, Usage):
            self.observe(usage.used, usage.total)

    def observe(self, used: int, total: int) -> None:
        if total > 0:
            self.used, self.max = used, total

    def check(self) -> None:
        """Raise ``QuotaExhausted`` if one more call would pass the share."""
        if self.used is None or self.max is None:
            return
        if self.used + 1 > self.share * self.max:
            raise QuotaExhausted(
                SYSTEM,
                f"API usage {self.used}/{self.max}: one more call would pass "
                f"{self.share:.0%} of the daily allocation (QUOTA_SHARE)",
                code="QUOTA_SHARE_REACHED",
            )
