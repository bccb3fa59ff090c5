"""The audit log of staff changes: the one recording API that every admin page and staff API
endpoint goes through (billing's included: a public module of accounts, it knows nothing of billing).

An entry says who (the staff member, kept by id and by name), when, from where (the client IP, as
allauth reads it behind the configured proxies), through what (admin or API), and what changed:
``{field: [before, after]}``. Rows are only inserted; the database refuses UPDATE and DELETE
(migration 0012's trigger).
"""

import hashlib
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from accounts.models import AuditEntry
from accounts.security import client_of, django_request

Action = AuditEntry.Action
Source = AuditEntry.Source
# Recorded only as "changed", never by value (not even a hash of the hash).
SECRET_FIELDS = frozenset({"password"})
HIDDEN = "(hidden)"
CHANGED = "(changed)"
MAX_REPR = AuditEntry._meta.get_field("object_repr").max_length


def _json_safe(value):
    """The value as JSON would keep it (Decimal and dates as text, ids as numbers)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def snapshot(obj: models.Model, *, m2m: tuple[str, ...] = (), extra: dict | None = None) -> dict:
    """The object's stored fields by name (a foreign key by its id), JSON-safe, for a before/after pair."""
    values = {}
    for field in obj._meta.concrete_fields:
        if getattr(field, "auto_now", False):  # "updated at" changes with every save: not news
            continue
        value = getattr(obj, field.attname)
        if field.name in SECRET_FIELDS:
            value = hashlib.sha256(str(value).encode()).hexdigest()  # compared, never stored (see diff)
        values[field.name] = value
    for name in m2m:
        values[name] = sorted(str(related) for related in getattr(obj, name).all()) if obj.pk else []
    values.update(extra or {})
    return _json_safe(values)


def diff(before: dict | None, after: dict | None) -> dict:
    """{field: [before, after]} for each field that differs; None stands for "no object"."""
    before, after = before or {}, after or {}
    changes = {}
    for name in dict.fromkeys([*before, *after]):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if name in SECRET_FIELDS:
            old, new = (HIDDEN if old is not None else None), (CHANGED if new is not None else None)
        changes[name] = [old, new]
    return changes


def object_type_of(obj: models.Model) -> str:
    return obj._meta.label_lower


def source_of(request) -> str:
    request = django_request(request)
    return Source.API if request is not None and request.path.startswith("/api/") else Source.ADMIN


def record(
    *,
    request,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    changes: dict | None = None,
    note: str = "",
) -> AuditEntry:
    """Append one entry for a change ``request.user`` made. ``obj`` names the changed object (or
    give its type, id and name for one that is not a model of ours)."""
    actor = getattr(request, "user", None)
    if actor is not None and not actor.is_authenticated:
        actor = None
    if obj is not None:
        object_type = object_type or object_type_of(obj)
        object_id = object_id or str(obj.pk or "")
        object_repr = object_repr or str(obj)
    return AuditEntry.objects.create(
        actor=actor,
        actor_label=(actor.get_username() if actor is not None else "unknown")[:254],
        ip=client_of(request)["ip"],
        source=source_of(request),
        action=action,
        object_type=object_type,
        object_id=str(object_id)[:100],
        object_repr=object_repr[:MAX_REPR],
        changes=_json_safe(changes or {}),
        note=note[:500],
    )


def record_change(*, request, obj: models.Model, before: dict | None, after: dict | None, action: str = "") -> None:
    """Create (no ``before``), update or delete (no ``after``) of ``obj``; an update that changed
    nothing (the admin's "Save" on an untouched form) is not recorded."""
    changes = diff(before, after)
    if before is not None and after is not None and not changes:
        return
    if not action:
        action = Action.CREATE if before is None else Action.DELETE if after is None else Action.UPDATE
    record(request=request, action=action, obj=obj, changes=changes)


class AuditedAdminMixin:
    """For a ModelAdmin: every save (add, change, list edit) and delete by staff is in the audit
    log with its before and after. ``audit_m2m`` names many-to-many fields to include; override
    ``audit_snapshot`` to add what inlines change. Actions record their own entries."""

    audit_m2m: tuple[str, ...] = ()
    _BEFORE = "_audit_before"

    def audit_snapshot(self, obj) -> dict:
        return snapshot(obj, m2m=self.audit_m2m)

    def save_model(self, request, obj, form, change):
        if change and obj.pk is not None:
            stored = type(obj)._default_manager.filter(pk=obj.pk).first()
            before = self.audit_snapshot(stored) if stored is not None else None
        else:
            before = None
        request.__dict__.setdefault(self._BEFORE, {})[id(obj)] = before
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        before = request.__dict__.get(self._BEFORE, {}).pop(id(obj), None)
        record_change(request=request, obj=obj, before=before, after=self.audit_snapshot(obj))

    def delete_model(self, request, obj):
        before, pk = self.audit_snapshot(obj), obj.pk
        super().delete_model(request, obj)
        obj.pk = obj.pk or pk  # Django clears it on delete; the entry names the row that was
        record_change(request=request, obj=obj, before=before, after=None)

    def delete_queryset(self, request, queryset):
        doomed = [(obj, self.audit_snapshot(obj)) for obj in queryset]
        super().delete_queryset(request, queryset)
        for obj, before in doomed:
            record_change(request=request, obj=obj, before=before, after=None)
