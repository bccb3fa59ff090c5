from django.urls import path

from accounts import views

urlpatterns = [
    path("profile/", views.profile, name="accounts_profile"),
    path("deactivate/", views.deactivate, name="accounts_deactivate"),
]
