"""The web login, in one or two steps, for the dashboard and the admin alike (SPEC §17).

1. ``/accounts/login/`` (and ``/admin/login/``, the same view) checks the username and password.
   A user without two-factor sign-in is signed in at once, as Django's LoginView does.
2. A user with it is *not* signed in yet: the session remembers who passed the password (their
   id, their session auth hash — a password change meanwhile voids it — and when), and
   ``/accounts/login/code/`` asks for the code. Only a right code signs in.

Both steps' POSTs go through the login throttle per client address (``throttled`` in
core/urls.py), and wrong codes are counted per user besides (``two_factor.verify``).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from authentication import two_factor

PENDING = "pulseguard_login_pending"


class LoginView(auth_views.LoginView):
    """Django's login, which stops before ``login()`` when the user has two-factor sign-in."""

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        if not two_factor.enrolled(user):
            return super().form_valid(form)
        self.request.session.cycle_key()  # the half-signed-in session gets a key of its own
        self.request.session[PENDING] = {
            "user": user.pk,
            "hash": user.get_session_auth_hash(),
            "backend": user.backend,
            "next": self.get_success_url(),
            "at": time.time(),
        }
        return redirect("login-code")


def pending_user(request: HttpRequest) -> tuple[Any, dict[str, Any]] | None:
    """The user who passed the password in this session and may now give the code, else None."""
    pending = request.session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > settings.LOGIN_CODE_TIMEOUT:
        return None
    user = get_user_model().objects.filter(pk=pending.get("user"), is_active=True).first()
    if user is None or not constant_time_compare(pending.get("hash", ""), user.get_session_auth_hash()):
        return None
    return user, pending


@sensitive_post_parameters("otp")
@never_cache
def login_code(request: HttpRequest) -> HttpResponse:
    """The second step: the code from the app (or a recovery code), then signed in."""
    found = pending_user(request)
    if found is None:
        request.session.pop(PENDING, None)
        return redirect(f"{reverse('login')}?expired=1")
    user, pending = found
    error = ""
    if request.method == "POST":
        if two_factor.locked(user):
            error = two_factor.LOCKED
        elif two_factor.verify(user, request.POST.get("otp", "")):
            del request.session[PENDING]
            login(request, user, backend=pending["backend"])
            return redirect(pending["next"])
        else:
            error = "That code is wrong or was used already. Try the next one from your app."
    return render(request, "registration/login_code.html", {"error": error, "username": user.get_username()})


def admin_login(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
    """``/admin/login/``: the project's login (so two-factor holds there too), then the admin.

    Installed as ``admin.site.login`` (authentication/admin.py); a signed-in staff user goes
    straight on, a signed-in user who is not staff is told so on the form.
    """
    if request.method == "GET" and request.user.is_authenticated and request.user.is_staff:
        target = request.GET.get("next", "")
        safe = url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure())
        return redirect(target if safe else reverse("admin:index"))
    view = LoginView.as_view(next_page=reverse("admin:index"), extra_context={"for_admin": True})
    return view(request)
