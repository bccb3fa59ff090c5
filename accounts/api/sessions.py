"""The API is token-only: its views get a session and a message store that live for one request.

allauth's flows that the API reuses (sign-up, Google sign-in) write to the session and add
messages ("Confirmation email sent to ..."); under /api/ that would create a session row and set
`sessionid`/`messages` cookies on a client that never asked for them. The browser's own session is
put aside untouched, so SessionMiddleware neither saves, replaces nor deletes it.

Views that run in the browser on purpose (the social web flow) say so with `uses_browser_session`.
"""

from django.contrib.messages.storage.base import BaseStorage
from django.contrib.sessions.backends.base import SessionBase

from accounts.api.ratelimit import API_PREFIX


class RequestOnlySession(SessionBase):
    """A session kept in memory for one request; it is never loaded from or saved anywhere."""

    def load(self):
        return {}

    def exists(self, session_key):
        return False

    def create(self):
        self._session_key = None
        self.modified = True

    def save(self, must_create=False):
        # A key, so that code which saves to learn it (allauth's usersessions, after an API password
        # change) goes on; the key names nothing stored, and allauth purges a record of it unseen.
        if self._session_key is None:
            self._session_key = self._get_new_session_key()

    def delete(self, session_key=None):
        self._session_cache = {}

    @classmethod
    def clear_expired(cls):
        pass


class DiscardedMessages(BaseStorage):
    """Messages added during an API request go nowhere: the response is JSON, not a page."""

    def _get(self, *args, **kwargs):
        return [], True

    def _store(self, messages, response, *args, **kwargs):
        return []


class TokenOnlyApiMiddleware:
    """Goes after SessionMiddleware and MessageMiddleware, which it stands in for under /api/.

    The swap happens in process_view, where Django hands over the view it already resolved (no
    second URL resolution per request), and is undone once the response is made.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        finally:
            put_aside = request.__dict__.pop("_browser_session_put_aside", None)
            if put_aside is not None:
                request.session, request._messages = put_aside

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not request.path.startswith(API_PREFIX):
            return None
        if getattr(getattr(view_func, "view_class", None), "uses_browser_session", False):
            return None
        request._browser_session_put_aside = (request.session, getattr(request, "_messages", None))
        request.session, request._messages = RequestOnlySession(), DiscardedMessages(request)
        return None
