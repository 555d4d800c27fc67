"""Two-factor sign-in with TOTP (RFC 6238) and single-use recovery codes (SPEC §17).

One module for every way in — the web login's second step, the admin login (the same flow),
``POST /api/auth/token/`` — and for enrolment on the account page and ``/api/auth/2fa/``:

- ``start()`` makes (or remakes) an unconfirmed secret; ``confirm()`` takes a first code,
  switches two-factor on and answers ten recovery codes, shown once and stored as SHA-256.
- ``verify()`` accepts a code of the current 30-second step or the one either side of it,
  each step once (``TwoFactor.last_step``, moved by a conditional UPDATE, so two requests
  racing with the same code cannot both win), or an unused recovery code, once.
- Wrong codes are counted per user (``authentication.throttle``, OTP_THROTTLE_RATE): someone
  who has the password cannot try a million codes, from however many addresses.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import time
from typing import Any

import pyotp
import qrcode
import qrcode.image.svg
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from authentication.models import RateCounter, RecoveryCode, TwoFactor
from authentication.throttle import hit, parse_rate

ISSUER = "PulseGuard"
STEP = 30  # seconds, RFC 6238's default and what every authenticator app assumes
DRIFT = 1  # steps either side of now that are still accepted
RECOVERY_CODES = 10

LOCKED = "Too many wrong codes; wait a while and try again."


def enrolled(user: Any) -> bool:
    """Whether ``user`` has confirmed two-factor sign-in (and so needs a code to sign in)."""
    if not getattr(user, "pk", None):
        return False
    return TwoFactor.objects.filter(user_id=user.pk, confirmed_at__isnull=False).exists()


def start(user: Any) -> TwoFactor:
    """A new, unconfirmed secret for ``user`` (an earlier unconfirmed one is replaced).

    Raises ValueError when two-factor is already on: it must be turned off first, so a stolen
    session cannot silently move the codes to another phone.
    """
    with transaction.atomic():
        current = TwoFactor.objects.select_for_update().filter(user_id=user.pk).first()
        if current is not None and current.confirmed_at is not None:
            raise ValueError("Two-factor sign-in is already on; turn it off first to enrol again.")
        secret = pyotp.random_base32()
        if current is None:
            return TwoFactor.objects.create(user_id=user.pk, secret=secret)
        current.secret, current.last_step = secret, 0
        current.save(update_fields=["secret", "last_step"])
        return current


def pending(user: Any) -> TwoFactor | None:
    """The unconfirmed enrolment of ``user``, if one was started."""
    return TwoFactor.objects.filter(user_id=user.pk, confirmed_at__isnull=True).first()


def otpauth_url(user: Any, factor: TwoFactor) -> str:
    """The ``otpauth://totp/…`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(factor.secret, interval=STEP).provisioning_uri(name=user.get_username(), issuer_name=ISSUER)


def qr_svg(text: str) -> str:
    """``text`` as a QR code in an inline ``<svg>`` element (the ``qrcode`` package's path
    factory: one <path>, no Pillow, nothing for the page's Content-Security-Policy to refuse)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    out = io.BytesIO()
    image.save(out)
    svg = out.getvalue().decode()
    return svg[svg.index("<svg") :]  # without the XML declaration, which has no place inside HTML


def clock() -> float:
    """Now, in epoch seconds (a seam: tests move it by whole steps)."""
    return time.time()


def current_step(now: float | None = None) -> int:
    return int((clock() if now is None else now) // STEP)


def clean(code: str) -> str:
    return "".join(str(code).split()).replace("-", "").lower()


def digest(code: str) -> str:
    return hashlib.sha256(clean(code).encode()).hexdigest()


def matching_step(factor: TwoFactor, code: str, now: float | None = None) -> int | None:
    """The step (now ± DRIFT, later than the last one accepted) whose code ``code`` is, else None."""
    code = clean(code)
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(factor.secret, interval=STEP)
    base = current_step(now)
    for step in range(base - DRIFT, base + DRIFT + 1):
        if step > factor.last_step and constant_time_compare(totp.generate_otp(step), code):
            return step
    return None


def use_step(factor: TwoFactor, step: int) -> bool:
    """Mark ``step`` used; False when it (or a later one) already was — by a racing request too."""
    won = TwoFactor.objects.filter(pk=factor.pk, last_step__lt=step).update(last_step=step) == 1
    if won:
        factor.last_step = step
    return won


def use_recovery_code(user: Any, code: str) -> bool:
    if not clean(code):
        return False
    found = RecoveryCode.objects.filter(user_id=user.pk, code_hash=digest(code), used_at__isnull=True)
    return found.update(used_at=timezone.now()) == 1


def new_recovery_codes(user: Any) -> list[str]:
    """Ten fresh codes (``xxxxx-xxxxx``, 50 random bits each) replacing any earlier ones."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread from paper
    codes = ["".join(secrets.choice(alphabet) for _ in range(10)) for _ in range(RECOVERY_CODES)]
    codes = [f"{c[:5]}-{c[5:]}" for c in codes]
    RecoveryCode.objects.filter(user_id=user.pk).delete()
    RecoveryCode.objects.bulk_create(RecoveryCode(user_id=user.pk, code_hash=digest(c)) for c in codes)
    return codes


def confirm(user: Any, code: str) -> list[str] | None:
    """Switch two-factor on with a first code of the pending secret; the recovery codes, or None
    when the code is wrong (or nothing is pending)."""
    with transaction.atomic():
        factor = TwoFactor.objects.select_for_update().filter(user_id=user.pk, confirmed_at__isnull=True).first()
        if factor is None:
            return None
        step = matching_step(factor, code)
        if step is None or not use_step(factor, step):
            return None
        factor.confirmed_at = timezone.now()
        factor.save(update_fields=["confirmed_at"])
        return new_recovery_codes(user)


def failure_key(user: Any) -> str:
    return f"otp:{user.pk}"


def failures(user: Any) -> int:
    """Wrong codes of ``user`` counted in the current window (the window's counter, unbumped)."""
    table = connection.ops.quote_name(RateCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count FROM {table} WHERE key = %s AND resets_at > %s", [failure_key(user), time.time()])
        row = cursor.fetchone()
    return row[0] if row else 0


def locked(user: Any) -> bool:
    """Whether ``user`` made OTP_THROTTLE_RATE wrong codes already: then no code is even tried."""
    allowed, _ = parse_rate(settings.OTP_THROTTLE_RATE)
    return failures(user) >= allowed


def verify(user: Any, code: str | None) -> bool:
    """Whether ``code`` is a right, unused TOTP code or recovery code of ``user``; uses it up.

    A wrong code is counted against the user; once OTP_THROTTLE_RATE is reached every code,
    right or wrong, is refused until the window ends (callers check ``locked()`` to say so).
    """
    if not code or locked(user):
        return False
    factor = TwoFactor.objects.filter(user_id=user.pk, confirmed_at__isnull=False).first()
    if factor is None:
        return False
    step = matching_step(factor, code)
    if (step is not None and use_step(factor, step)) or use_recovery_code(user, code):
        return True
    hit(failure_key(user), parse_rate(settings.OTP_THROTTLE_RATE)[1])
    return False


def disable(user: Any) -> None:
    """Turn two-factor off: the secret and every recovery code go."""
    with transaction.atomic():
        TwoFactor.objects.filter(user_id=user.pk).delete()
        RecoveryCode.objects.filter(user_id=user.pk).delete()


def recovery_codes_left(user: Any) -> int:
    return RecoveryCode.objects.filter(user_id=user.pk, used_at__isnull=True).count()
