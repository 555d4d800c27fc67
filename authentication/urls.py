from __future__ import annotations

from django.urls import path

from authentication import views

urlpatterns = [
    path("register/", views.RegisterView.as_view(), name="auth-register"),
    path("token/", views.TokenView.as_view(), name="token-obtain"),
    path("token/refresh/", views.TokenRefresh.as_view(), name="token-refresh"),
    path("token/verify/", views.TokenVerify.as_view(), name="token-verify"),
    path("me/", views.MeView.as_view(), name="auth-me"),
    path("2fa/", views.TwoFactorView.as_view(), name="auth-2fa"),
    path("2fa/confirm/", views.TwoFactorConfirmView.as_view(), name="auth-2fa-confirm"),
]
