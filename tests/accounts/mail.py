"""Reading what the portal mailed, as a person would."""

import re

from django.core import mail


def last_mail_to(address: str):
    messages = [m for m in mail.outbox if address.lower() in [to.lower() for to in m.to]]
    assert messages, f"no mail to {address}; outbox: {[(m.to, m.subject) for m in mail.outbox]}"
    return messages[-1]


def html_body(message) -> str:
    return next(content for content, mimetype in message.alternatives if mimetype == "text/html")


def link_in(message, path_prefix: str) -> str:
    match = re.search(rf"https?://[^/\s]+({re.escape(path_prefix)}[^\s\"<]*)", message.body)
    assert match, f"no {path_prefix} link in: {message.body}"
    return match.group(1)


def code_in(message) -> str:
    match = re.search(r"\b(\d{6})\b", message.body)
    assert match, f"no 6-digit code in: {message.body}"
    return match.group(1)
