"""``/accounts/register/``: sign-up in the browser, with the API's rules (RegisterSerializer)."""

from __future__ import annotations

from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from authentication.serializers import RegisterSerializer
from authentication.views import AuthRateThrottle

FIELDS = ("username", "email", "password")


def register(request: HttpRequest) -> HttpResponse:
    """Create the account, sign it in and go to the dashboard; errors show beside their fields."""
    if request.user.is_authenticated:
        return redirect("dashboard")
    values = {k: "" for k in FIELDS}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in FIELDS}
        throttle = AuthRateThrottle()
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
                return redirect("dashboard")
    values.pop("password", None)
    status = 400 if errors else 200
    return render(request, "registration/register.html", {"values": values, "errors": errors}, status=status)
