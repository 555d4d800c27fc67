"""Registration and the current user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, serializers
from rest_framework.validators import UniqueValidator
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.serializers import (
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
    TokenVerifySerializer,
)
from rest_framework_simplejwt.tokens import RefreshToken, UntypedToken

from authentication import two_factor

User = get_user_model()


class RegisterSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(
        required=True, validators=[UniqueValidator(User.objects.all(), message="This e-mail is already registered.")]
    )
    password = serializers.CharField(write_only=True, style={"input_type": "password"})

    class Meta:
        model = User
        fields = ["id", "username", "email", "password"]

    def validate_password(self, value: str) -> str:
        # Field-level, so a weak password is reported together with the other field errors.
        data = self.initial_data if isinstance(self.initial_data, dict) else {}
        candidate = User(username=str(data.get("username", "")), email=str(data.get("email", "")))
        try:
            validate_password(value, candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from exc
        return value

    def create(self, validated_data: dict[str, Any]) -> Any:
        return User.objects.create_user(**validated_data)


class UserSerializer(serializers.ModelSerializer):
    password = serializers.CharField(write_only=True, required=False, style={"input_type": "password"})
    current_password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False, style={"input_type": "password"}
    )

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "is_staff",
            "date_joined",
            "password",
            "current_password",
        ]
        read_only_fields = ["id", "is_staff", "date_joined"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """A new password or e-mail needs the current password (SPEC §17): a bearer token alone,
        stolen or left on a shared machine, must not be enough to take the account over."""
        current = attrs.pop("current_password", "")
        email_changes = "email" in attrs and self.instance is not None and attrs["email"] != self.instance.email
        if ("password" in attrs or email_changes) and self.instance is not None:
            if not current:
                raise serializers.ValidationError(
                    {"current_password": ["Give your current password to change the password or the e-mail."]}
                )
            if not self.instance.check_password(current):
                raise serializers.ValidationError({"current_password": ["The current password is wrong."]})
        if email_changes and "password" not in attrs:
            # The same password under a fresh salt: a new hash ends every token (their password
            # fingerprint) and every other session (their auth hash), as a password change does.
            attrs["password"] = current
        return attrs

    def validate_password(self, value: str) -> str:
        try:
            validate_password(value, self.instance)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from exc
        return value

    def update(self, instance: Any, validated_data: dict[str, Any]) -> Any:
        password = validated_data.pop("password", None)
        if password:
            instance.set_password(password)
        return super().update(instance, validated_data)


def live_user(token: Any) -> Any:
    """The user a valid token names, as the API authenticates it.

    Raises AuthenticationFailed (401) when that user was deleted or deactivated, or changed
    their password after the token was issued (SimpleJWT's CHECK_REVOKE_TOKEN: every token
    carries a fingerprint of the password hash it was issued under).
    """
    return JWTAuthentication().get_user(token)


class RefreshSerializer(TokenRefreshSerializer):
    """SimpleJWT's refresh, which checks none of that: a deleted user's refresh was a 500
    (``User.DoesNotExist``) and a refresh from before a password change still worked."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        live_user(RefreshToken(attrs["refresh"]))
        return super().validate(attrs)


class VerifySerializer(TokenVerifySerializer):
    """A token is valid only while its user could still use it."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        live_user(UntypedToken(attrs["token"]))
        return super().validate(attrs)


class OtpRequired(exceptions.AuthenticationFailed):
    """401 ``{"detail": …, "otp_required": true}``: the password was right, a code is needed."""

    def __init__(self, detail: str) -> None:
        super().__init__()
        self.detail = {"detail": exceptions.ErrorDetail(detail, "otp_required"), "otp_required": True}  # type: ignore[assignment]


class TokenObtainSerializer(TokenObtainPairSerializer):
    """SimpleJWT's username and password, then ``otp`` (a TOTP or recovery code) for a user who
    enrolled in two-factor sign-in (SPEC §17). The code is asked only after the password was
    right, so the 401 without it tells nobody who lacks the password that the account has one."""

    otp = serializers.CharField(required=False, allow_blank=True, write_only=True, max_length=64)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        otp = attrs.pop("otp", "")
        data = super().validate(attrs)  # 401 for a wrong password; sets self.user
        if two_factor.enrolled(self.user):
            if two_factor.locked(self.user):
                raise exceptions.Throttled(detail=two_factor.LOCKED)
            if not otp:
                raise OtpRequired("This account uses two-factor sign-in: send the code from your app as otp.")
            if not two_factor.verify(self.user, otp):
                raise OtpRequired("The two-factor code is wrong or was used already.")
        return data


class TwoFactorStatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    recovery_codes_left = serializers.IntegerField()


class TwoFactorStartSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The TOTP secret, base32, for typing into an app.")
    otpauth_url = serializers.CharField(help_text="The otpauth://totp/ URI an app reads from a QR code.")


class RecoveryCodesSerializer(serializers.Serializer):
    recovery_codes = serializers.ListField(child=serializers.CharField(), help_text="Ten codes, shown only now.")


class OtpSerializer(serializers.Serializer):
    otp = serializers.CharField(max_length=64, trim_whitespace=True)


class DisableTwoFactorSerializer(OtpSerializer):
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})

    def validate_password(self, value: str) -> str:
        if not self.context["request"].user.check_password(value):
            raise serializers.ValidationError("The password is wrong.")
        return value
