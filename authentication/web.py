"""``/accounts/register/``: sign-up in the browser, with the API's rules (RegisterSerializer)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from authentication.serializers import RegisterSerializer
from authentication.views import AuthRateThrottle

FIELDS = ("username", "email", "password")


def sign_up(request: HttpRequest) -> tuple[dict[str, str], dict[str, list[str]], Any]:
    """The account a sign-up form posted, made and signed in: ``(values, errors, user)``; ``user`` is
    None when there are errors (every field's at once, with the API's rules)."""
    values = {k: request.POST.get(k, "") for k in FIELDS}
    throttle = AuthRateThrottle()
    user = None
    if not throttle.allow_request(request, None):  # type: ignore[arg-type]
        errors = {"general": ["Too many attempts from your address; wait a minute and try again."]}
    else:
        # Every field's errors at once: the API's rules and the second password together,
        # not one round trip per mistake.
        serializer = RegisterSerializer(data=values)
        valid = serializer.is_valid()
        errors = {k: [str(m) for m in v] for k, v in serializer.errors.items()}
        if values["password"] != request.POST.get("password2", ""):
            errors["password2"] = ["The two passwords differ."]
        elif valid:
            user = serializer.save()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    values.pop("password", None)
    return values, errors, user


def register(request: HttpRequest) -> HttpResponse:
    """Create the account, sign it in and go to the dashboard; errors show beside their fields."""
    if request.user.is_authenticated:
        return redirect("dashboard")
    values = {k: "" for k in FIELDS if k != "password"}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values, errors, user = sign_up(request)
        if user is not None:
            return redirect("dashboard")
    status = 400 if errors else 200
    return render(request, "registration/register.html", {"values": values, "errors": errors}, status=status)
