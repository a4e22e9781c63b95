"""A local Segment: the HTTP Tracking API and the Profile API on loopback, state in SQLite.

Point ``segment.analytics.Client(write_key, host=service.url)`` and Profile API clients at ``service.url``:

    with SegmentService() as segment:
        client = Client("local-write-key", host=segment.url, sync_mode=True)
        client.identify("u1", {"plan": "pro"})
        assert segment.profile_traits("user_id:u1") == {"plan": "pro"}

Tracking API: ``POST /v1/batch`` (also ``/v1/import``) and ``/v1/{identify,track,page,screen,group,alias}``;
write key as HTTP basic username or ``writeKey`` in the body; gzip bodies; 400 for invalid JSON, a message
over 32 KB or a batch over 500 KB; 401 for a missing or unknown write key (the real API answers 200 and drops
the data; pass ``reject_unknown_write_keys=False`` for that); 200 ``{"success": true}`` otherwise.

Profile API: ``GET /v1/spaces/{space}/collections/users/profiles/{type:id}/{resource}`` (resource: traits,
events, external_ids, metadata) with the access token as basic username; ``limit`` (traits: 10 by default,
up to 200), ``next``, ``include``, ``verbose``; errors as ``{"error": {"code", "message"}}``
(401 ``authentication_error``, 404 ``not_found``, 400 ``validation_error``).

Admin (no auth, loopback only): ``GET /_local/health``, ``GET /_local/profiles[/{type:id}]``,
``PUT /_local/profiles/{type:id}/traits`` with ``{"traits": {...}}``, ``GET /_local/messages?type=&status=``,
``GET /_local/arrivals?type=`` (every message that reached the tracking API, before its messageId dedupe),
``GET|POST|DELETE /_local/faults`` (POST ``{"api": "tracking", "status": 429, "count": 2}``; see
:mod:`local_stack.faults`),
``POST /_local/reset``.

How messages change profiles (dedupe, identity resolution, trait merging) is described in ``backend``.
"""

from local_stack.segment.backend import SegmentBackend, merge_traits, parse_external_id
from local_stack.segment.responses import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, SegmentService, write_key_id
from local_stack.segment.store import SegmentStore

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_MESSAGE_BYTES",
    "SegmentBackend",
    "SegmentService",
    "SegmentStore",
    "merge_traits",
    "parse_external_id",
    "write_key_id",
]
