"""A ``requests`` session whose timeout and CA bundle always apply.

Two things a plain ``requests.Session`` does not guarantee:

- a timeout: requests waits forever unless each call passes one, and libraries such as
  simple-salesforce do not pass one on every call;
- the CA bundle: with ``trust_env`` on (the default), ``REQUESTS_CA_BUNDLE`` or
  ``CURL_CA_BUNDLE`` in the environment replaces a session's ``verify`` (requests issue
  #3829, kept for compatibility until requests 3). Here the configured bundle wins; the
  environment's proxies and ``NO_PROXY`` still apply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

__all__ = ["PinnedSession"]


class PinnedSession(requests.Session):
    """A session that sends every request with ``timeout_s`` and, if given, ``ca_bundle``."""

    def __init__(self, *, timeout_s: float, ca_bundle: str | Path | None = None) -> None:
        super().__init__()
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.timeout_s = timeout_s
        self.ca_bundle = str(ca_bundle) if ca_bundle is not None else None
        if self.ca_bundle is not None:
            self.verify = self.ca_bundle

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_s
        return super().request(method, url, *args, **kwargs)

    def merge_environment_settings(
        self,
        url: Any,
        proxies: Any,
        stream: Any,
        verify: Any,
        cert: Any,
    ) -> dict[str, Any]:
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        # A per-request ``verify`` (False, or another bundle) stays the caller's choice;
        # only the environment's bundle is kept from replacing ours.
        if self.ca_bundle is not None and (verify is None or verify is True):
            merged["verify"] = self.ca_bundle
        return merged
