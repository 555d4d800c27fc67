"""``/accounts/``: the account page — two-factor sign-in, the e-mail — and the password-reset
e-mail's link (SPEC §17). The password pages themselves are Django's views (core/urls.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordResetForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from authentication import two_factor
from authentication.models import Team, TwoFactor
from authentication.serializers import UserSerializer
from core.links import absolute_url


@sensitive_post_parameters("password", "current_password", "otp")
@never_cache
@login_required
def account(request: HttpRequest) -> HttpResponse:
    """Show and change the account; each form posts ``action`` and comes back here.

    - ``start``: make a secret; the page then shows its QR code, base32 text and URI.
    - ``confirm`` (``otp``): switch two-factor on; the answer shows the recovery codes, once
      (they are not kept anywhere but as SHA-256, so a reload cannot show them again).
    - ``disable`` (``password``, ``otp``): switch it off.
    - ``email`` (``email``, ``current_password``): the API's rules (UserSerializer); the change
      ends every other session and token, this session stays signed in.
    """
    user = request.user
    errors: dict[str, list[str]] = {}
    context: dict[str, Any] = {"nav": "account"}
    status = 200
    action = request.POST.get("action", "") if request.method == "POST" else ""
    if action == "start":
        try:
            two_factor.start(user)
        except ValueError as exc:
            errors["two_factor"] = [str(exc)]
        else:
            return redirect("account")
    elif action == "confirm":
        codes = two_factor.confirm(user, request.POST.get("otp", ""))
        if codes is None:
            errors["otp"] = ["That code is wrong; check the phone's clock and try the next one."]
        else:
            context["recovery_codes"] = codes
    elif action == "disable":
        if not user.check_password(request.POST.get("password", "")):
            errors["password"] = ["The password is wrong."]
        elif two_factor.locked(user):
            errors["disable_otp"] = [two_factor.LOCKED]
        elif not two_factor.verify(user, request.POST.get("otp", "")):
            errors["disable_otp"] = ["That code is wrong or was used already."]
        else:
            two_factor.disable(user)
            return redirect("account")
    elif action == "email":
        data = {"email": request.POST.get("email", ""), "current_password": request.POST.get("current_password", "")}
        serializer = UserSerializer(user, data=data, partial=True)
        if serializer.is_valid():
            serializer.save()
            update_session_auth_hash(request, user)  # this session stays; every other one ends
            return redirect(f"{reverse('account')}?email=changed")
        errors.update({k: [str(m) for m in v] for k, v in serializer.errors.items()})
        context["email_value"] = data["email"]
    if errors:
        status = 400
    factor = TwoFactor.objects.filter(user_id=user.pk).first()
    # The teams that refuse this user their objects until two-factor is on (require_two_factor).
    context["required_by"] = list(Team.objects.filter(require_two_factor=True, memberships__user_id=user.pk))
    context.update(errors=errors, factor=factor, email_changed=request.GET.get("email") == "changed")
    if factor is not None and factor.confirmed_at is None:
        uri = two_factor.otpauth_url(user, factor)
        context.update(otpauth_url=uri, qr_svg=two_factor.qr_svg(uri), secret=factor.secret)
    elif factor is not None:
        context["recovery_codes_left"] = two_factor.recovery_codes_left(user)
    return render(request, "registration/account.html", context, status=status)


class ResetForm(PasswordResetForm):
    """Django's reset form whose e-mailed link starts with PUBLIC_URL (SPEC §2: ``absolute_url``)."""

    request: HttpRequest | None = None

    def save(self, *args: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
        self.request = request
        super().save(*args, request=request, **kwargs)

    def send_mail(
        self, subject_template_name: str, email_template_name: str, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> None:
        path = reverse("password_reset_confirm", kwargs={"uidb64": context["uid"], "token": context["token"]})
        context["reset_url"] = absolute_url(path, self.request)
        context["valid_for"] = valid_for(settings.PASSWORD_RESET_TIMEOUT)
        super().send_mail(subject_template_name, email_template_name, context, *args, **kwargs)


def valid_for(seconds: int) -> str:
    """``3 days``, ``12 hours``, ``30 minutes``: how long a reset link works, for the e-mail."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size * (2 if unit != "minute" else 1):
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"
