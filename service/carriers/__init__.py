"""Carrier tracking API clients for polling: raw documents in, stored verbatim with channel `poll`.

One small module per carrier API (`ups`, `fedex`, `usps`, `dhl`, `canadapost`),
all aiohttp, all shaped by `base.CarrierClient`. They never parse what they
fetch: the parsers do that later, from the stored bytes.
"""
from .base import (
                   AuthFailed,
                   CarrierClient,
                   CarrierError,
                   PollDocument,
                   RateLimited,
                   Rejected,
                   Unavailable,
                   parse_retry_after,
)
from .canadapost import CanadaPostClient
from .config import CLIENTS, CarrierCredentials, clients_from_env, credentials_from_env
from .dhl import DhlClient
from .fedex import FedexClient
from .oauth import TokenCache
from .ups import UpsClient
from .usps import UspsClient

__all__ = ["CLIENTS", "AuthFailed", "CanadaPostClient", "CarrierClient", "CarrierCredentials", "CarrierError",
           "DhlClient", "FedexClient", "PollDocument", "RateLimited", "Rejected", "TokenCache", "Unavailable",
           "UpsClient", "UspsClient", "clients_from_env", "credentials_from_env", "parse_retry_after"]
