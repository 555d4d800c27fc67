"""Registration, JWT issue (throttled per client address) and the current user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model, update_session_auth_hash
from django.db import transaction
from rest_framework import generics, permissions
from rest_framework.authentication import SessionAuthentication
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenVerifyView

from authentication.keys import PeopleOnly
from authentication.serializers import RegisterSerializer, UserSerializer
from authentication.throttle import AuthRateThrottle
from monitoring.models import Server
from monitoring.services.engine.checks import delete_servers


class AuthThrottleMixin:
    throttle_classes = [AuthRateThrottle]


class RegisterView(AuthThrottleMixin, generics.CreateAPIView):
    queryset = get_user_model().objects.all()
    serializer_class = RegisterSerializer
    permission_classes = [permissions.AllowAny]
    authentication_classes: list[Any] = []


class TokenView(AuthThrottleMixin, TokenObtainPairView):
    pass


class TokenRefresh(AuthThrottleMixin, TokenRefreshView):
    pass


class TokenVerify(AuthThrottleMixin, TokenVerifyView):
    pass


class MeView(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = UserSerializer
    # A team API key is no person's account: 403, whatever its scope.
    permission_classes = [permissions.IsAuthenticated, PeopleOnly]

    def get_object(self) -> Any:
        return self.request.user

    def perform_destroy(self, instance: Any) -> None:
        """Delete the account and all of it, even while its checks run: its servers first, locked
        as a running check's record locks them (``checks.delete_servers``), so neither fails."""
        with transaction.atomic():
            delete_servers(Server.objects.filter(team__personal_for=instance))
            instance.delete()

    def perform_update(self, serializer: Any) -> None:
        user = serializer.save()
        by_session = isinstance(self.request.successful_authenticator, SessionAuthentication)
        if "password" in serializer.validated_data and by_session:
            # Every other session and every token issued before now ends (their password
            # fingerprint no longer matches); the session that changed it stays logged in.
            update_session_auth_hash(self.request, user)
