"""The base of every domain error: a refusal whose message a person can act on.

Each app's errors (accounts/exceptions.py, billing/exceptions.py) say how the API answers them
(`status_code`) and what they say when raised without a message; the API's exception handler
(accounts/api/errors.py) turns them into the contract's `{"detail": message}` and the schema
(accounts/api/schema.py) documents them. Domain code never imports DRF for this.
"""


class DomainError(Exception):
    status_code = 400
    message = ""

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)
