"""Apple Music API: developer tokens, the ratings/catalog client, typed models, errors and share links.

This package never imports `discord`: it is usable (and tested) without Discord.
"""

from .client import CATALOG_CHUNK, DEFAULT_BASE_URL, RATINGS_CHUNK, AppleMusicClient
from .errors import (
    ApiErrorEntry,
    AppleMusicError,
    BadRequest,
    DeveloperKeyError,
    DeveloperTokenRejected,
    NotFound,
    RateLimited,
    Redirected,
    ResponseTooLarge,
    UpstreamError,
    UpstreamTimeout,
    UserTokenInvalid,
)
from .links import InvalidLink, ShareLink, check_id, find_links, parse_link
from .models import Artwork, CatalogItem, LibraryPlaylist, Rating, Storefront
from .observe import NO_ANSWER, ObservedSender, RequestObserver, request_kind
from .pacing import AdaptivePacer, BudgetState, BudgetSync, PacedSender, Pacer, PaceView
from .priority import Priority, background, current_priority
from .retry import RequestWithdrawn, RetryPolicy, StillAllowed
from .tokens import (
    DEFAULT_LIFETIME,
    MAX_LIFETIME,
    DeveloperToken,
    generate_private_key,
    load_private_key,
    public_key_pem,
)
from .transport import DEFAULT_MAX_RESPONSE_BYTES, parse_retry_after
from .types import CATALOG_TYPES, LIBRARY_TYPES, ItemRef, ResourceType

__all__ = [
    "CATALOG_CHUNK",
    "CATALOG_TYPES",
    "DEFAULT_BASE_URL",
    "DEFAULT_LIFETIME",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "LIBRARY_TYPES",
    "MAX_LIFETIME",
    "NO_ANSWER",
    "RATINGS_CHUNK",
    "AdaptivePacer",
    "ApiErrorEntry",
    "AppleMusicClient",
    "AppleMusicError",
    "Artwork",
    "BadRequest",
    "BudgetState",
    "BudgetSync",
    "CatalogItem",
    "DeveloperKeyError",
    "DeveloperToken",
    "DeveloperTokenRejected",
    "InvalidLink",
    "ItemRef",
    "LibraryPlaylist",
    "NotFound",
    "ObservedSender",
    "PaceView",
    "PacedSender",
    "Pacer",
    "Priority",
    "RateLimited",
    "Rating",
    "Redirected",
    "RequestObserver",
    "RequestWithdrawn",
    "ResourceType",
    "ResponseTooLarge",
    "RetryPolicy",
    "ShareLink",
    "StillAllowed",
    "Storefront",
    "UpstreamError",
    "UpstreamTimeout",
    "UserTokenInvalid",
    "background",
    "check_id",
    "current_priority",
    "find_links",
    "generate_private_key",
    "load_private_key",
    "parse_link",
    "parse_retry_after",
    "public_key_pem",
    "request_kind",
]
