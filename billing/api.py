"""The contract's Billing endpoints (api-contract.md): thin DRF views over billing.services."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import audit
from accounts.api.permissions import IsVerified, SignedInWithSecondFactor
from accounts.api.schema import raises
from billing import selectors, services
from billing.access import HasTier, access_subscription
from billing.exceptions import (
    AlreadySubscribed,
    BillingError,
    BillingRuleError,
    NotFound,
    PaymentDeclined,
    PlanCodeTaken,
)
from billing.models import Interval, Plan, Tier
from config.links import absolute_reverse


class IsStaff(BasePermission):
    message = "Staff only."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_staff)


class PlanSerializer(serializers.ModelSerializer):
    billing_period = serializers.ChoiceField(source="interval", choices=Interval.choices, default=Interval.MONTH)
    tier = serializers.ChoiceField(choices=Tier.choices)
    currency = serializers.RegexField(r"^[a-zA-Z]{3}$", max_length=3, default="usd")
    features = serializers.ListField(child=serializers.CharField(max_length=200), max_length=50, default=list)

    class Meta:
        model = Plan
        fields = ("id", "name", "code", "tier", "price_cents", "currency", "billing_period", "features")
        extra_kwargs = {"code": {"validators": []}, "price_cents": {"max_value": 99_999_999}}

    def validate_currency(self, value):
        return value.lower()


class PlanUpdateSerializer(PlanSerializer):
    class Meta(PlanSerializer.Meta):
        read_only_fields = ("id", "code")


class SubscriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    plan = PlanSerializer()
    started_at = serializers.DateTimeField(source="created_at")
    current_period_end = serializers.DateTimeField(allow_null=True)
    cancel_at_period_end = serializers.BooleanField()
    canceled_at = serializers.DateTimeField(allow_null=True)
    provider = serializers.SerializerMethodField()
    provider_subscription_id = serializers.CharField(source="stripe_subscription_id")

    def get_provider(self, obj) -> str:
        return "stripe"


class PlanCodeInput(serializers.Serializer):
    plan_code = serializers.SlugField(max_length=64)


class CheckoutSerializer(serializers.Serializer):
    checkout_url = serializers.URLField()


class PreviewSerializer(serializers.Serializer):
    amount_due_cents = serializers.IntegerField()
    currency = serializers.CharField()
    proration_date = serializers.IntegerField()
    lines = serializers.ListField(child=serializers.DictField())


class UrlSerializer(serializers.Serializer):
    url = serializers.URLField()


class PaymentSerializer(serializers.Serializer):
    id = serializers.CharField(source="djstripe_id")
    invoice_id = serializers.CharField(source="id")
    subscription_id = serializers.CharField(allow_null=True)
    amount_cents = serializers.SerializerMethodField()
    currency = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField(source="created")
    hosted_invoice_url = serializers.CharField(allow_null=True)
    invoice_pdf = serializers.CharField(allow_null=True)

    def get_amount_cents(self, invoice) -> int:
        return int(invoice["amount_due"] or 0)  # Stripe's integer minor units (a row of selectors.invoices_for)


class _PublicReads:
    """GET is public ("P"): a stale bearer is ignored there; writes are staff-only."""

    def get_authenticators(self):
        request = getattr(self, "request", None)  # None while drf-spectacular builds the schema
        if request is not None and request.method == "GET":
            return []
        return super().get_authenticators()


class PlansView(_PublicReads, APIView):
    def get_permissions(self):
        if self.request.method == "GET":
            return []
        return [IsAuthenticated(), IsVerified(), IsStaff(), SignedInWithSecondFactor()]

    @extend_schema(responses={200: PlanSerializer(many=True)}, tags=["billing"])
    def get(self, request):
        return Response(PlanSerializer(Plan.objects.active(), many=True).data)

    @extend_schema(request=PlanSerializer, responses={201: PlanSerializer}, tags=["billing"])
    @raises(PlanCodeTaken, BillingError)
    def post(self, request):
        serializer = PlanSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if Plan.objects.filter(code=serializer.validated_data["code"]).exists():
            raise PlanCodeTaken()
        plan = Plan(**serializer.validated_data)
        services.save_plan(plan=plan)
        audit.record_change(request=request, obj=plan, before=None, after=audit.snapshot(plan))
        return Response(PlanSerializer(plan).data, status=status.HTTP_201_CREATED)


class PlanDetailView(_PublicReads, APIView):
    def get_permissions(self):
        if self.request.method == "GET":
            return []
        return [IsAuthenticated(), IsVerified(), IsStaff(), SignedInWithSecondFactor()]

    @extend_schema(responses={200: PlanSerializer}, tags=["billing"])
    def get(self, request, plan_id):
        return Response(PlanSerializer(get_object_or_404(Plan, pk=plan_id)).data)

    @extend_schema(request=PlanUpdateSerializer, responses={200: PlanSerializer}, tags=["billing"])
    @raises(BillingError)
    def patch(self, request, plan_id):
        plan = get_object_or_404(Plan, pk=plan_id)
        previous = Plan.objects.get(pk=plan.pk)
        serializer = PlanUpdateSerializer(plan, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        for field, value in serializer.validated_data.items():
            setattr(plan, field, value)
        services.save_plan(plan=plan, previous=previous)
        audit.record_change(request=request, obj=plan, before=audit.snapshot(previous), after=audit.snapshot(plan))
        return Response(PlanSerializer(plan).data)

    @extend_schema(responses={204: None}, tags=["billing"])
    @raises(BillingRuleError, BillingError)
    def delete(self, request, plan_id):
        plan = get_object_or_404(Plan, pk=plan_id)
        if not plan.is_active:
            raise BillingRuleError("This plan is already deleted.")
        services.archive_plan(plan=plan)
        audit.record(request=request, action=audit.Action.ARCHIVE, obj=plan, changes={"is_active": [True, False]})
        return Response(status=status.HTTP_204_NO_CONTENT)


class MySubscriptionView(APIView):
    permission_classes = [IsAuthenticated, IsVerified]

    @extend_schema(responses={200: SubscriptionSerializer}, tags=["billing"])
    @raises(NotFound)
    def get(self, request):
        subscription = access_subscription(request.user)
        if subscription is None:
            raise NotFound("No active subscription found for this user.")
        return Response(SubscriptionSerializer(subscription).data)


class SubscribeView(APIView):
    permission_classes = [IsAuthenticated, IsVerified]

    @extend_schema(request=PlanCodeInput, responses={201: CheckoutSerializer}, tags=["billing"])
    @raises(NotFound, AlreadySubscribed, BillingError)
    def post(self, request):
        data = PlanCodeInput(data=request.data)
        data.is_valid(raise_exception=True)
        url = services.start_checkout(user=request.user, plan_code=data.validated_data["plan_code"])
        return Response({"checkout_url": url}, status=status.HTTP_201_CREATED)


class PreviewView(APIView):
    permission_classes = [IsAuthenticated, IsVerified]

    @extend_schema(parameters=[PlanCodeInput], responses={200: PreviewSerializer}, tags=["billing"])
    @raises(NotFound, BillingRuleError, BillingError)
    def get(self, request):
        data = PlanCodeInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        preview = services.preview_change(user=request.user, plan_code=data.validated_data["plan_code"])
        preview.pop("plan")
        return Response(preview)


class UpgradeView(APIView):
    permission_classes = [IsAuthenticated, IsVerified]

    @extend_schema(request=PlanCodeInput, responses={200: SubscriptionSerializer}, tags=["billing"])
    @raises(NotFound, BillingRuleError, PaymentDeclined, BillingError)
    def post(self, request):
        data = PlanCodeInput(data=request.data)
        data.is_valid(raise_exception=True)
        change = services.change_plan(user=request.user, plan_code=data.validated_data["plan_code"])
        if change.payment_url is not None:
            return Response({"action_url": change.payment_url or absolute_reverse("billing_subscription")})
        return Response(SubscriptionSerializer(change.subscription).data)


class CancelView(APIView):
    permission_classes = [IsAuthenticated, IsVerified]
    service = staticmethod(services.cancel_at_period_end)

    @extend_schema(request=None, responses={200: SubscriptionSerializer}, tags=["billing"])
    @raises(NotFound, BillingRuleError, BillingError)
    def post(self, request):
        # No transaction here: Stripe is called first, and its answer is recorded in the lifecycle's own.
        subscription = self.service(user=request.user)
        return Response(SubscriptionSerializer(subscription).data)


class ResumeView(CancelView):
    service = staticmethod(services.resume)


class PortalView(APIView):
    permission_classes = [IsAuthenticated, IsVerified]

    @extend_schema(request=None, responses={200: UrlSerializer}, tags=["billing"])
    @raises(NotFound, BillingError)
    def post(self, request):
        url = services.billing_portal_url(user=request.user, return_url=absolute_reverse("billing_subscription"))
        return Response({"url": url})


class MyPaymentsView(APIView):
    permission_classes = [IsAuthenticated, IsVerified]

    @extend_schema(responses={200: PaymentSerializer(many=True)}, tags=["billing"])
    def get(self, request):
        return Response(PaymentSerializer(selectors.invoices_for(request.user), many=True).data)


class ReportsSerializer(serializers.Serializer):
    plan = serializers.CharField()
    reports = serializers.ListField(child=serializers.CharField())


class ProReportsView(APIView):
    """The gated example endpoint: Pro and Business subscribers only."""

    permission_classes = [IsAuthenticated, IsVerified, HasTier("pro")]

    @extend_schema(responses={200: ReportsSerializer}, tags=["billing"])
    def get(self, request):
        subscription = access_subscription(request.user)
        return Response({"plan": subscription.plan.code, "reports": ["usage-by-month", "active-projects"]})
