from django.urls import path

from billing import views

urlpatterns = [
    path("pricing/", views.pricing, name="billing_pricing"),
    path("subscribe/", views.subscribe, name="billing_subscribe"),
    path("checkout/success/", views.checkout_success, name="billing_checkout_success"),
    path("subscription/", views.subscription, name="billing_subscription"),
    path("subscription/change/", views.change_plan, name="billing_change_plan"),
    path("subscription/cancel/", views.cancel, name="billing_cancel"),
    path("subscription/resume/", views.resume, name="billing_resume"),
    path("portal/", views.portal, name="billing_portal"),
    path("history/", views.history, name="billing_history"),
    path("reports/", views.pro_reports, name="billing_pro_reports"),
]
