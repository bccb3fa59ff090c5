from django import forms

from accounts.models import Profile


class ProfileForm(forms.ModelForm):
    image_url = forms.URLField(label="Image URL", required=False, max_length=500, assume_scheme="https")

    class Meta:
        model = Profile
        fields = ("first_name", "last_name", "image_url")


class DeactivateAccountForm(forms.Form):
    confirm = forms.BooleanField(
        label="I understand that I will be signed out everywhere and can no longer sign in.",
        required=True,
    )
