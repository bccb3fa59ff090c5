from django.contrib import admin

from mail.models import OutboundEmail


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    """The mail outbox, to see what waits or gave up. Bodies hold sign-in links and codes: never shown."""

    list_display = ("subject", "to", "created_at", "sent_at", "attempts", "resent_at", "last_error")
    list_filter = (("sent_at", admin.EmptyFieldListFilter),)
    search_fields = ("subject",)
    fields = ("to", "from_email", "subject", "created_at", "sent_at", "attempts", "resent_at", "last_error")
    fields += ("dedupe_key", "renderer")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
