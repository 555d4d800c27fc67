"""Registration, JWT issue (throttled per client address), the current user and two-factor enrolment."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model, update_session_auth_hash
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenVerifyView

from authentication import two_factor
from authentication.keys import PeopleOnly
from authentication.serializers import (
    DisableTwoFactorSerializer,
    OtpSerializer,
    RecoveryCodesSerializer,
    RegisterSerializer,
    TwoFactorStartSerializer,
    TwoFactorStatusSerializer,
    UserSerializer,
)
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


class TwoFactorView(APIView):
    """``/api/auth/2fa/``: GET whether two-factor is on; POST starts (or restarts) an enrolment
    and answers ``{secret, otpauth_url}``; DELETE ``{password, otp}`` turns it off. For people,
    not keys."""

    permission_classes = [permissions.IsAuthenticated, PeopleOnly]

    @extend_schema(responses=TwoFactorStatusSerializer)
    def get(self, request: Request) -> Response:
        on = two_factor.enrolled(request.user)
        left = two_factor.recovery_codes_left(request.user) if on else 0
        return Response({"enabled": on, "recovery_codes_left": left})

    @extend_schema(request=None, responses={201: TwoFactorStartSerializer})
    def post(self, request: Request) -> Response:
        try:
            factor = two_factor.start(request.user)
        except ValueError as exc:
            raise ValidationError({"detail": [str(exc)]}) from exc
        url = two_factor.otpauth_url(request.user, factor)
        return Response({"secret": factor.secret, "otpauth_url": url}, status=status.HTTP_201_CREATED)

    @extend_schema(request=DisableTwoFactorSerializer, responses={204: None})
    def delete(self, request: Request) -> Response:
        if not two_factor.enrolled(request.user):
            raise ValidationError({"detail": ["Two-factor sign-in is not on."]})
        serializer = DisableTwoFactorSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        if two_factor.locked(request.user):
            raise Throttled(detail=two_factor.LOCKED)
        if not two_factor.verify(request.user, serializer.validated_data["otp"]):
            raise ValidationError({"otp": ["The code is wrong or was used already."]})
        two_factor.disable(request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TwoFactorConfirmView(APIView):
    """``POST /api/auth/2fa/confirm/ {otp}``: a first code switches two-factor on; the answer
    holds the ten recovery codes, the only time they are shown."""

    permission_classes = [permissions.IsAuthenticated, PeopleOnly]

    @extend_schema(request=OtpSerializer, responses=RecoveryCodesSerializer)
    def post(self, request: Request) -> Response:
        serializer = OtpSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if two_factor.pending(request.user) is None:
            raise ValidationError({"otp": ["No enrolment is waiting: POST /api/auth/2fa/ first."]})
        codes = two_factor.confirm(request.user, serializer.validated_data["otp"])
        if codes is None:
            raise ValidationError({"otp": ["The code is wrong; check the phone's clock and try the next one."]})
        return Response({"recovery_codes": codes})
