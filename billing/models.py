from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from billing.money import format_money, format_price


class Tier(models.TextChoices):
    FREE = "free", "Free"
    PRO = "pro", "Pro"
    BUSINESS = "business", "Business"


# Tiers are ordered: access to a tier includes every tier below it.
TIER_RANK = {Tier.FREE: 0, Tier.PRO: 1, Tier.BUSINESS: 2}


class Interval(models.TextChoices):
    MONTH = "month", "Monthly"
    YEAR = "year", "Yearly"


class PlanQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class Plan(models.Model):
    """What a customer can buy. Mirrored to a Stripe Product and its current Price."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    tier = models.CharField(max_length=16, choices=Tier.choices)
    price_cents = models.PositiveIntegerField(validators=[MinValueValidator(0)])
    currency = models.CharField(
        max_length=3,
        default="usd",
        validators=[RegexValidator(r"^[a-z]{3}$", "Use a three-letter ISO code, e.g. usd.")],
    )
    interval = models.CharField(max_length=8, choices=Interval.choices, default=Interval.MONTH)
    features = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    # Keyed by Stripe's id, so the id is written before dj-stripe's mirror row exists.
    stripe_product = models.ForeignKey(
        "djstripe.Product",
        to_field="id",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    stripe_price = models.ForeignKey(
        "djstripe.Price",
        to_field="id",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["price_cents", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(currency__regex=r"^[a-z]{3}$"), name="billing_plan_currency_iso"),
        ]

    def __str__(self):
        return self.name

    @property
    def rank(self) -> int:
        return TIER_RANK[Tier(self.tier)]

    @property
    def price_display(self) -> str:
        return format_money(self.price_cents, self.currency)

    @property
    def price_tag(self) -> str:
        """The pricing page's "$19" ("$0" for a free plan)."""
        return format_price(self.price_cents, self.currency)

    @property
    def per_interval(self) -> str:
        """ "/ month", or "forever" for a free plan (it never renews or bills)."""
        return f"/ {self.interval}" if self.price_cents else "forever"


class ReconciliationRun(models.Model):
    """One run of the daily comparison of our access records with Stripe, and what it repaired."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        STRIPE_UNAVAILABLE = "stripe_unavailable", "Stopped: Stripe unavailable"
        INTERRUPTED = "interrupted", "Stopped: time limit"

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=32, choices=Outcome.choices, default=Outcome.RUNNING)
    checked = models.PositiveIntegerField(default=0)
    repaired = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # One entry per repaired or failed record: {"subscription", "stripe_subscription", "changes"
    # ({field: [ours, Stripe's]}) or "error"}.
    repairs = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"Reconciliation of {self.started_at:%Y-%m-%d %H:%M} ({self.get_outcome_display()})"


class IntegrityFinding(models.Model):
    """One thing the daily reconciliation found wrong between billing and access (billing.sweeps).

    Each run stores what is left after its repairs: people billed without access here, or access
    here that nobody pays for. Listed for staff in the admin; nothing here changes by itself.
    """

    class Kind(models.TextChoices):
        INACTIVE_BILLED = "inactive_billed", "Billed, but the account is deactivated"
        BILLED_WITHOUT_RECORD = "billed_without_record", "Billed, but no access record here"
        UNRESOLVED_DUPLICATE = "unresolved_duplicate", "Duplicate subscription not canceled and refunded"
        UNOWNED_SUBSCRIPTION = "unowned_subscription", "Stripe subscription with no owner here"
        ACCESS_WITHOUT_BILLING = "access_without_billing", "Access here, but Stripe bills nothing"

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="findings")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    stripe_subscription_id = models.CharField(max_length=255, blank=True)
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    stripe_status = models.CharField(max_length=32, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-run__started_at", "kind", "pk"]
        indexes = [models.Index(fields=["run", "kind"])]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.stripe_subscription_id or self.user_id}"


class SubscriptionStatus(models.TextChoices):
    INCOMPLETE = "incomplete", "Incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete, expired"
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    CANCELED = "canceled", "Canceled"
    UNPAID = "unpaid", "Unpaid"
    PAUSED = "paused", "Paused"


# Statuses that grant access (past_due keeps access while Stripe retries the payment).
ACCESS_STATUSES = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
# Statuses a subscription never leaves: it is over, and access with it.
ENDED_STATUSES = (SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED)
# A record with access: an access status, and not a duplicate (a duplicate never grants access).
WITH_ACCESS = Q(status__in=ACCESS_STATUSES, duplicate_of__isnull=True)


class SubscriptionQuerySet(models.QuerySet):
    def with_access(self):
        """Records that grant access (Subscription.grants_access): at most one per user."""
        return self.filter(WITH_ACCESS)

    def in_access_status(self):
        """Records in an access status, duplicates included (ending or re-checking them is about status)."""
        return self.filter(status__in=ACCESS_STATUSES)


class Subscription(models.Model):
    """Our access record for one Stripe subscription (see DESIGN.md): what the user may use, until when."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    stripe_subscription_id = models.CharField(max_length=255, unique=True)
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=32, choices=SubscriptionStatus.choices)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # When Stripe last described this subscription to us: older news never overwrites newer.
    stripe_updated_at = models.DateTimeField(null=True, blank=True)
    # A second paid subscription for a user who already has access (two Checkout tabs): it never
    # grants access; a task cancels and refunds it in Stripe, then sets duplicate_resolved_at.
    duplicate_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="duplicates"
    )
    duplicate_resolved_at = models.DateTimeField(null=True, blank=True)
    # Access ended by our clock (the expiry sweep) while Stripe did not answer: the "ended" mail
    # waits for Stripe's word, so nobody is told of an end that Stripe's renewal undoes.
    end_mail_held = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=WITH_ACCESS,
                name="billing_one_subscription_with_access_per_user",
                violation_error_message="This user already has a subscription with access.",
            )
        ]
        indexes = [models.Index(fields=["status", "current_period_end"])]

    def __str__(self):
        return f"{self.user} on {self.plan} ({self.status})"

    @property
    def grants_access(self) -> bool:
        return self.status in ACCESS_STATUSES and self.duplicate_of_id is None

    @property
    def has_ended(self) -> bool:
        return self.status in ENDED_STATUSES

    @property
    def can_change_plan(self) -> bool:
        """Only a subscription in good standing moves to another plan. Past due, Stripe is still
        retrying the failed renewal: a change would add a prorated invoice on top of the open one
        (charged to the card that just failed), so the customer pays that invoice or updates the
        payment method first (PAY_BEFORE_CHANGING_PLAN)."""
        return self.grants_access and self.status != SubscriptionStatus.PAST_DUE


PAY_BEFORE_CHANGING_PLAN = (
    "Your last payment failed: pay the open invoice or update your payment method first, then you can change plan."
)


class DuplicateRefund(models.Model):
    """The refund of a duplicate subscription's payment (billing.duplicates), as Stripe answered it.

    Shown to the customer in their billing history once made. A refund Stripe refuses in a way no
    retry can fix (the charge was already refunded or is disputed), or that failed MAX_ATTEMPTS
    times, is left for staff ("needs staff", with the reason) instead of being retried for a week.
    """

    MAX_ATTEMPTS = 10

    class State(models.TextChoices):
        TRYING = "trying", "Being refunded"
        REFUNDED = "refunded", "Refunded"
        NEEDS_STAFF = "needs_staff", "Needs staff"

    subscription = models.OneToOneField(Subscription, on_delete=models.CASCADE, related_name="refund")
    state = models.CharField(max_length=16, choices=State.choices, default=State.TRYING)
    stripe_invoice_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_refund_id = models.CharField(max_length=255, blank=True)
    # Stripe's refund status (succeeded, pending, requires_action, failed, canceled), once made.
    stripe_status = models.CharField(max_length=32, blank=True)
    amount_cents = models.PositiveIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    needs_staff_since = models.DateTimeField(null=True, blank=True)
    # Times staff asked to try again: part of the idempotency key, or Stripe would replay its refusal.
    staff_retries = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="refunded") | ~Q(stripe_refund_id=""),
                name="billing_refund_refunded_has_stripe_id",
            )
        ]

    def __str__(self):
        return f"Refund of {self.subscription.stripe_subscription_id} ({self.get_state_display()})"

    @property
    def amount_display(self) -> str:
        return format_money(self.amount_cents, self.currency) if self.amount_cents is not None else ""
