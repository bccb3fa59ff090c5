from django.urls import path

from billing import api

urlpatterns = [
    path("plans", api.PlansView.as_view(), name="api-plans"),
    path("plans/<int:plan_id>", api.PlanDetailView.as_view(), name="api-plan"),
    path("subscriptions/me", api.MySubscriptionView.as_view(), name="api-subscriptions-me"),
    path("subscriptions/subscribe", api.SubscribeView.as_view(), name="api-subscribe"),
    path("subscriptions/preview", api.PreviewView.as_view(), name="api-preview"),
    path("subscriptions/upgrade", api.UpgradeView.as_view(), name="api-upgrade"),
    path("subscriptions/cancel", api.CancelView.as_view(), name="api-cancel"),
    path("subscriptions/resume", api.ResumeView.as_view(), name="api-resume"),
    path("portal", api.PortalView.as_view(), name="api-portal"),
    path("payments/me", api.MyPaymentsView.as_view(), name="api-payments-me"),
    path("reports", api.ProReportsView.as_view(), name="api-pro-reports"),
]
