"""Live Bybit connections: thin asyncio drivers over the sans-I/O core (codec, frame builders, engine).

``BybitStream`` keeps one websocket alive (auth, subscriptions, heartbeat, reconnect with backoff);
``PublicFeed`` runs the public market-data stream of one category into an ``Engine``;
``RestClient`` is the REST driver and ``LiveVenue`` the engine's ``Venue`` on Bybit (trade
websocket or REST, rate-limited, ``QueryOrder`` answered over REST).
"""

from feeds.bybit.live.backoff import Backoff
from feeds.bybit.live.connection import (
    DEFAULT_PUBLIC_MAX_SILENCE_S,
    AuthRefusedError,
    BybitStream,
    EventSink,
    FrameHandler,
    Parser,
    StreamCallbackError,
    StreamCounters,
    StreamError,
    StreamNotLiveError,
    StreamSpec,
    StreamTiming,
    private_stream_spec,
    public_stream_spec,
    trade_stream_spec,
)
from feeds.bybit.live.public import DEFAULT_BOOK_DEPTHS, PublicFeed, public_topics
from feeds.bybit.live.rest_client import DEFAULT_REST_TIMEOUT_S, RestClient, RestTransportError
from feeds.bybit.live.venue import LiveVenue, VenueCounters

__all__ = [
    "Backoff",
    "BybitStream",
    "StreamSpec",
    "StreamTiming",
    "StreamCounters",
    "StreamError",
    "AuthRefusedError",
    "StreamNotLiveError",
    "StreamCallbackError",
    "FrameHandler",
    "EventSink",
    "Parser",
    "DEFAULT_PUBLIC_MAX_SILENCE_S",
    "public_stream_spec",
    "private_stream_spec",
    "trade_stream_spec",
    "PublicFeed",
    "DEFAULT_BOOK_DEPTHS",
    "public_topics",
    "RestClient",
    "RestTransportError",
    "DEFAULT_REST_TIMEOUT_S",
    "LiveVenue",
    "VenueCounters",
]
