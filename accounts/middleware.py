"""Keeps each signed-in session's "last active" time (allauth's UserSession.last_seen_at).

allauth's own USERSESSIONS_TRACK_ACTIVITY writes the session row on every request; here the row
is written at most once a minute per session, and whether it is due is asked of the cache (one
Redis round trip, no query), so pages keep their pinned query counts.
"""

import hashlib
import logging

from allauth.usersessions.models import UserSession
from django.core.cache import cache
from django.db import DatabaseError
from django.utils import timezone

ACTIVITY_RESOLUTION_SECONDS = 60

logger = logging.getLogger(__name__)


class SessionActivityMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code >= 500:  # an outage page: the database may be the thing that is down
            return response
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        try:
            if session is not None and session.session_key and user is not None and user.is_authenticated:
                self.record(session.session_key, user.pk)
        except DatabaseError:  # the page is served; "last active" can wait for the next request
            logger.warning("session activity not recorded: database unavailable")
        return response

    @staticmethod
    def record(session_key: str, user_id: int) -> None:
        if start_activity_period(session_key):
            UserSession.objects.filter(session_key=session_key, user_id=user_id).update(last_seen_at=timezone.now())


def start_activity_period(session_key: str) -> bool:
    """True when this session's last write is a minute old (or none is known): the caller writes.
    Also called at sign-in, where allauth has just written the row with the time."""
    key = "session-seen:" + hashlib.sha256(session_key.encode()).hexdigest()
    try:
        return cache.add(key, 1, timeout=ACTIVITY_RESOLUTION_SECONDS)
    except Exception:  # a cache outage must not fail the page; the time can wait
        return False
