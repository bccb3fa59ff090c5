from dataclasses import dataclass
from functools import cache

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from djstripe.models import Event, WebhookEventTrigger

from accounts import audit
from billing import duplicates, services
from billing import stripe_gateway as gateway
from billing.exceptions import BillingError
from billing.models import DuplicateRefund, IntegrityFinding, Plan, ReconciliationRun, Subscription
from billing.tasks import resolve_duplicate_subscription
from billing.webhook_views import reprocess
from mail.publish import enqueue_on_commit


class PlanAdminForm(forms.ModelForm):
    features = forms.JSONField(
        required=False, help_text='A JSON list of short lines, e.g. ["10 projects", "Email support"].'
    )

    class Meta:
        model = Plan
        fields = ("code", "name", "tier", "price_cents", "currency", "interval", "features", "is_active")

    def clean_features(self):
        features = self.cleaned_data.get("features") or []
        if not isinstance(features, list) or not all(isinstance(item, str) for item in features):
            raise forms.ValidationError("Give a list of text lines.")
        return features

    # Why Stripe refused this submission (set by PlanAdmin.get_form): validation only reports it.
    stripe_refusal: str | None = None

    def clean(self):
        cleaned_data = super().clean()
        if self.stripe_refusal:
            raise forms.ValidationError(self.stripe_refusal)
        return cleaned_data


@dataclass
class _StripePush:
    """What PlanAdmin.changeform_view did in Stripe for one submission, before the admin saves it."""

    refusal: str | None = None
    product_id: str | None = None
    price_id: str | None = None
    old_price_id: str | None = None
    saved_plan: Plan | None = None


# The push travels with the request: the ModelAdmin instance is shared by every request.
_PUSH = "billing_plan_stripe_push"


@admin.register(Plan)
class PlanAdmin(audit.AuditedAdminMixin, admin.ModelAdmin):
    form = PlanAdminForm
    list_display = ("name", "code", "tier", "price_display", "interval", "is_active", "stripe_price_id")
    list_filter = ("is_active", "tier", "interval")
    search_fields = ("code", "name")
    readonly_fields = ("stripe_product_id", "stripe_price_id", "created_at", "updated_at")
    actions = ["archive"]

    def get_readonly_fields(self, request, obj=None):
        # The code is how Stripe metadata, checkouts and apps refer to a plan: fixed once created.
        return (*self.readonly_fields, "code") if obj else self.readonly_fields

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """Stripe first, outside the admin's transaction; then the admin validates and saves as usual.

        When Stripe refuses or is down, the form shows why and nothing is saved; once our row points
        at a new price, the old one is archived (after the admin's transaction has committed).
        """
        push = self._push_to_stripe(request, object_id) if request.method == "POST" else None
        setattr(request, _PUSH, push)
        response = super().changeform_view(request, object_id, form_url, extra_context)
        if push is not None and push.saved_plan is not None:
            services.finish_plan_save(plan=push.saved_plan, old_price_id=push.old_price_id)
        return response

    def _push_to_stripe(self, request, object_id) -> _StripePush | None:
        """Validate the submission and write it to Stripe; None when the admin itself will refuse it."""
        if object_id is None or "_saveasnew" in request.POST:
            obj = None
            if not self.has_add_permission(request):
                return None
        else:
            obj = self.get_object(request, unquote(object_id))
            if obj is None or not self.has_change_permission(request, obj):
                return None
        form = self.get_form(request, obj, change=obj is not None)(request.POST, request.FILES, instance=obj)
        if not form.is_valid():
            return None  # the admin shows the same errors; nothing goes to Stripe
        plan = form.instance
        previous = Plan.objects.get(pk=plan.pk) if plan.pk else None
        try:
            old_price_id = services.push_plan_to_stripe(plan=plan, previous=previous)
        except BillingError as error:
            return _StripePush(refusal=f"Stripe: {error} The plan was not saved.")
        return _StripePush(product_id=plan.stripe_product_id, price_id=plan.stripe_price_id, old_price_id=old_price_id)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        push = getattr(request, _PUSH, None)
        if push is not None and push.refusal:
            form = type(form.__name__, (form,), {"stripe_refusal": push.refusal})
        return form

    def save_model(self, request, obj, form, change):
        push = getattr(request, _PUSH, None)
        if push is not None:
            obj.stripe_product_id, obj.stripe_price_id = push.product_id, push.price_id
        super().save_model(request, obj, form, change)
        if push is not None:
            push.saved_plan = obj
        if not gateway.is_configured():
            messages.warning(request, "Billing is not configured: the plan was saved here but not in Stripe.")

    def has_delete_permission(self, request, obj=None):
        return False  # plans are archived, never deleted: subscriptions keep pointing at them

    @admin.action(description="Archive selected plans (no new subscriptions; Stripe product archived)")
    def archive(self, request, queryset):
        archived = 0
        for plan in queryset.filter(is_active=True):
            try:
                services.archive_plan(plan=plan)
            except BillingError as error:
                self.message_user(request, f"{plan}: {error} It was not archived.", messages.ERROR)
            else:
                archived += 1
                changes = {"is_active": [True, False]}
                audit.record(request=request, action=audit.Action.ARCHIVE, obj=plan, changes=changes)
        if archived:
            self.message_user(request, f"Archived {archived} plan(s).")


@admin.register(Subscription)
class SubscriptionAdmin(audit.AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("user", "plan", "status", "current_period_end", "cancel_at_period_end", "stripe_subscription_id")
    list_filter = ("status", "plan", "cancel_at_period_end")
    search_fields = ("user__email", "user__username", "stripe_subscription_id", "stripe_customer_id")
    list_select_related = ("user", "plan")
    raw_id_fields = ("user",)
    readonly_fields = (
        "stripe_subscription_id",
        "stripe_customer_id",
        "stripe_updated_at",
        "duplicate_of",
        "duplicate_resolved_at",
        "created_at",
        "updated_at",
    )


@admin.register(DuplicateRefund)
class DuplicateRefundAdmin(admin.ModelAdmin):
    """Refunds of duplicate subscriptions; "Needs staff" are those Stripe refused or that ran out of attempts."""

    list_display = ("stripe_subscription", "user", "state", "amount", "failures", "last_error", "updated_at")
    list_filter = ("state",)
    search_fields = (
        "subscription__stripe_subscription_id",
        "subscription__user__email",
        "stripe_refund_id",
        "stripe_invoice_id",
    )
    list_select_related = ("subscription__user",)
    ordering = ("-updated_at",)
    readonly_fields = (
        "subscription",
        "state",
        "stripe_invoice_id",
        "stripe_refund_id",
        "stripe_status",
        "amount",
        "refunded_at",
        "failures",
        "last_error",
        "needs_staff_since",
        "staff_retries",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields
    actions = ["retry"]

    @admin.action(description="Try the selected refunds again (after fixing what Stripe refused)")
    def retry(self, request, queryset):
        reopened = [
            refund
            for refund in queryset.filter(state=DuplicateRefund.State.NEEDS_STAFF)
            if duplicates.retry_refund(refund)
        ]
        for refund in reopened:
            enqueue_on_commit(resolve_duplicate_subscription, refund.subscription_id)
            changes = {"state": [DuplicateRefund.State.NEEDS_STAFF, DuplicateRefund.State.TRYING]}
            audit.record(request=request, action=audit.Action.RETRY_REFUND, obj=refund, changes=changes)
        skipped = queryset.count() - len(reopened)
        self.message_user(request, f"Trying {len(reopened)} refund(s) again; {skipped} did not need staff.")

    @admin.display(description="Stripe subscription")
    def stripe_subscription(self, refund):
        return refund.subscription.stripe_subscription_id

    @admin.display(description="user")
    def user(self, refund):
        return refund.subscription.user

    @admin.display(description="amount")
    def amount(self, refund):
        return refund.amount_display or "\u2014"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


REPROCESSED = audit.Action.REPROCESS_WEBHOOK

# dj-stripe's own log of deliveries, with the errors, the event type and a way to run a failed one again.
admin.site.unregister(WebhookEventTrigger)


def failed_deliveries_processed_later() -> set[int]:
    """The failed deliveries (processed = no) whose event has been processed since.

    Stripe delivers a failed event again, and staff may reprocess it: the failed row stays as it
    was (its error is history), so "healed" is read here. dj-stripe keeps an Event row only once
    its processing committed, so that row is the proof. Two queries over the failed rows only.
    """
    failed = {t.pk: t.json_body.get("id") for t in WebhookEventTrigger.objects.filter(processed=False).only("body")}
    done = set(Event.objects.filter(id__in={i for i in failed.values() if i}).values_list("id", flat=True))
    return {pk for pk, event_id in failed.items() if event_id in done}


class DeliveryOutcomeFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return [
            ("processed", "Processed"),
            ("healed", "Failed, processed later"),
            ("failing", "Failed, not processed yet"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "processed":
            return queryset.filter(processed=True)
        if self.value() == "healed":
            return queryset.filter(pk__in=failed_deliveries_processed_later())
        if self.value() == "failing":
            return queryset.filter(processed=False).exclude(pk__in=failed_deliveries_processed_later())
        return queryset


@admin.register(WebhookEventTrigger)
class WebhookEventLogAdmin(admin.ModelAdmin):
    list_filter = (DeliveryOutcomeFilter, "valid", "created")
    search_fields = ("event__id", "exception", "body")
    list_select_related = ("event",)
    readonly_fields = (
        "created",
        "updated",
        "event",
        "valid",
        "processed",
        "processed_later_by",
        "exception",
        "traceback",
        "body",
    )
    fields = readonly_fields
    actions = ["reprocess"]
    date_hierarchy = "created"

    def get_list_display(self, request):
        processed_later = cache(failed_deliveries_processed_later)  # once per page, and only if a row failed

        @admin.display(description="outcome")
        def outcome(trigger):
            if trigger.processed:
                return "Processed"
            return "Failed, processed later" if trigger.pk in processed_later() else "Failed"

        return ("created", "event_type", "event_id", "valid", outcome, "exception")

    @admin.display(description="type")
    def event_type(self, trigger):
        return trigger.json_body.get("type", "")

    @admin.display(description="event")
    def event_id(self, trigger):
        return trigger.json_body.get("id", "")

    @admin.display(description="processed later by")
    def processed_later_by(self, trigger):
        """For a failed delivery: the delivery (Stripe's retry, or one reprocessed) that processed its event."""
        if trigger.processed:
            return "-"
        event_id = trigger.json_body.get("id") or ""
        later = WebhookEventTrigger.objects.filter(processed=True, event_id=event_id).order_by("created").first()
        if later is None:
            return "Not processed yet"
        return f"Delivery {later.pk}, {later.created:%Y-%m-%d %H:%M:%S %Z}"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Process the selected failed deliveries again", permissions=["reprocess"])
    def reprocess(self, request, queryset):
        done = failed = skipped = 0
        processed_later = failed_deliveries_processed_later()
        for trigger in queryset.order_by("created"):
            if not trigger.valid or trigger.processed or trigger.pk in processed_later:
                skipped += 1
                continue
            event = f"Stripe event {trigger.json_body.get('id')} ({trigger.json_body.get('type', 'unknown type')})"
            try:
                reprocess(trigger)
            except Exception as error:
                failed += 1
                self.message_user(request, f"{trigger.json_body.get('id')}: {error}", messages.ERROR)
                audit.record(request=request, action=REPROCESSED, obj=trigger, note=f"{event}: failed again: {error}")
            else:
                done += 1
                audit.record(request=request, action=REPROCESSED, obj=trigger, note=f"{event}: processed.")
                processed_later = failed_deliveries_processed_later()  # its event's other failed rows too
        self.message_user(
            request, f"Processed {done}, failed {failed}, skipped {skipped} (invalid, done or processed later)."
        )

    def has_reprocess_permission(self, request):
        return request.user.is_superuser or request.user.has_perm("djstripe.change_webhookeventtrigger")


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):
    """What the daily reconciliation found and repaired: written by the task, read here."""

    list_display = ("started_at", "outcome", "checked", "repaired", "failed", "integrity_findings", "finished_at")
    list_filter = ("outcome",)
    date_hierarchy = "started_at"
    readonly_fields = (
        "started_at",
        "finished_at",
        "outcome",
        "checked",
        "repaired",
        "failed",
        "repairs_table",
        "integrity_summary",
    )
    exclude = ("repairs",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(findings_count=Count("findings"))

    @admin.display(description="integrity findings", ordering="findings_count")
    def integrity_findings(self, run):
        return run.findings_count

    @admin.display(description="Integrity report")
    def integrity_summary(self, run):
        counts = dict(run.findings.values_list("kind").annotate(n=Count("pk")).values_list("kind", "n"))
        if not counts:
            return "Nothing wrong between billing and access."
        url = reverse("admin:billing_integrityfinding_changelist") + f"?run__id__exact={run.pk}"
        lines = format_html_join(
            "",
            "<li>{}: {}</li>",
            ((label, counts[kind]) for kind, label in IntegrityFinding.Kind.choices if kind in counts),
        )
        return format_html('<ul>{}</ul><a href="{}">See each finding</a>', lines, url)

    @admin.display(description="Repairs and failures")
    def repairs_table(self, run):
        rows = [
            format_html(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                entry["subscription"],
                entry["stripe_subscription"],
                entry.get("error")
                or "; ".join(f"{name}: {old} \u2192 {new}" for name, (old, new) in entry["changes"].items()),
            )
            for entry in run.repairs
        ]
        if not rows:
            return "Nothing to repair."
        header = format_html("<tr><th>{}</th><th>{}</th><th>{}</th></tr>", "Record", "Stripe subscription", "Change")
        return format_html("<table>{}{}</table>", header, format_html_join("", "{}", ((row,) for row in rows)))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(IntegrityFinding)
class IntegrityFindingAdmin(admin.ModelAdmin):
    """The integrity report of each reconciliation run: people billed without access, access without billing."""

    list_display = ("kind", "user", "stripe_subscription_id", "stripe_customer_id", "stripe_status", "detail", "run")
    list_filter = ("kind", "run")
    search_fields = ("stripe_subscription_id", "stripe_customer_id", "user__email", "user__username")
    list_select_related = ("user", "run")
    date_hierarchy = "run__started_at"
    fields = readonly_fields = (
        "run",
        "kind",
        "user",
        "stripe_subscription_id",
        "stripe_customer_id",
        "stripe_status",
        "detail",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
