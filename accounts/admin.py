from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db import models
from django.utils.html import format_html

from accounts.exceptions import DeactivationRefused
from accounts.models import Profile, User
from accounts.services import deactivate_account


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    fields = ("first_name", "last_name", "image_url", "uploaded_picture", "created_at", "updated_at")
    readonly_fields = ("uploaded_picture", "created_at", "updated_at")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="uploaded picture")
    def uploaded_picture(self, profile):
        # A link, not a file input: pictures are only stored through accounts.pictures (re-encoded).
        if not profile.picture:
            return "-"
        return format_html('<a href="{}">{}</a>', profile.picture_path, profile.picture.name)


class UserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "email")


class UserChangeAdminForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationForm
    inlines = [ProfileInline]
    list_display = ("username", "email", "provider", "is_active", "is_staff", "created_at")
    list_filter = ("is_active", "is_staff", "is_superuser", "provider", "created_at")
    search_fields = ("username", "email", "profile__first_name", "profile__last_name")
    ordering = ("-created_at",)
    list_select_related = ("profile",)
    readonly_fields = ("last_login", "date_joined", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("username", "email", "password", "provider")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "email", "usable_password", "password1", "password2")}),
    )

    actions = ["deactivate"]

    @admin.action(description="Deactivate selected users (sign out everywhere, no further sign-in)")
    def deactivate(self, request, queryset):
        deactivated = 0
        for user in queryset.filter(is_active=True):
            try:
                deactivate_account(user=user, request=request)
            except DeactivationRefused as refusal:
                self.message_user(request, f"{user} was not deactivated: {refusal.reason}", messages.ERROR)
            else:
                deactivated += 1
        self.message_user(request, f"Deactivated {deactivated} user(s).")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)  # inside the admin's transaction
        if not change:
            Profile.objects.for_user(obj)

    def get_inlines(self, request, obj):
        # The profile is created with the user; an inline on the add page would make a second one.
        return self.inlines if obj is not None else []
