"""Registration, JWT issue (throttled per client address) and the current user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import generics, permissions
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenVerifyView

from authentication.serializers import RegisterSerializer, UserSerializer


class AuthThrottleMixin:
    """Login and registration share the ``auth`` rate (AUTH_THROTTLE_RATE) per client address."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"


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

    def get_object(self) -> Any:
        return self.request.user
