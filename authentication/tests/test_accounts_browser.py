"""The account pages in a real browser (Chromium through Playwright, daphne serving): enrol in
two-factor sign-in from the QR page, sign in in two steps, change and reset the password.
Screenshots go to logs/screens/account-*.png (desktop and phone width)."""

from __future__ import annotations

import pyotp
import pytest
from django.conf import global_settings
from django.contrib.auth.tokens import default_token_generator
from django.test import override_settings
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from authentication.models import RecoveryCode, TwoFactor
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, daphne, require_browser
from tests.test_web_browser import shoot

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_user_enrols_signs_in_with_a_code_and_manages_the_password(alice, monkeypatch):
    require_browser()
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # the ORM between sync Playwright calls
    from playwright.sync_api import expect, sync_playwright

    # daphne checks passwords with the real hashers, not the tests' fast one.
    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):
        alice.set_password("alice-password-1")
        alice.save()
    team = alice.personal_team
    team.require_two_factor = True  # the account page says so until she enrols
    team.save()

    with daphne() as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # (A refused form answers 400, which the console reports: not an error of the page.)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "400" not in m.text else None)

            page.goto(f"{base}/accounts/login/")
            expect(page.get_by_role("link", name="Forgot password?")).to_be_visible()
            shoot(page, "account-login")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alice-password-1")
            page.click("[type=submit]")
            expect(page.locator("main")).to_contain_text("No servers yet")

            # The account menu in the header.
            page.click("details.account summary")
            expect(page.locator("details.account .menu")).to_contain_text("Change password")
            page.screenshot(path="logs/screens/account-menu-desktop.png")
            page.click("text=Account and two-factor")
            expect(page.locator("h1")).to_have_text("Your account")
            expect(page.locator("#required-by")).to_contain_text("requires two-factor sign-in")
            shoot(page, "account-page")

            page.click("text=Set up two-factor sign-in")
            expect(page.locator(".qr svg")).to_be_visible()
            secret = page.locator("#secret").inner_text()
            assert page.locator("#otpauth-url").inner_text().startswith("otpauth://totp/PulseGuard:alice?secret=")
            shoot(page, "account-enrol")
            page.fill("#id_otp", "000000")
            page.click("text=Turn on")
            expect(page.locator(".error[role=alert]")).to_contain_text("That code is wrong")
            page.fill("#id_otp", pyotp.TOTP(secret).now())
            page.click("text=Turn on")
            codes = page.locator("#recovery-codes code")
            expect(codes).to_have_count(10)
            shoot(page, "account-recovery-codes")
            recovery = codes.first.inner_text()
            assert TwoFactor.objects.get(user=alice).confirmed_at is not None
            page.click("text=I have saved them")
            expect(page.locator("main")).to_contain_text("10 of 10 recovery codes left")
            shoot(page, "account-two-factor-on")

            # Signing in again takes the code (the app's was used: a recovery code here).
            page.click("details.account summary")
            page.click("text=Sign out")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alice-password-1")
            page.click("[type=submit]")
            expect(page.locator("h1")).to_have_text("Two-factor sign-in")
            page.fill("#id_otp", "123456")
            page.click("[type=submit]")
            expect(page.locator("[role=alert]")).to_contain_text("wrong")
            shoot(page, "account-login-code")
            page.fill("#id_otp", recovery)
            page.click("[type=submit]")
            expect(page.locator("main")).to_contain_text("No servers yet")
            assert RecoveryCode.objects.filter(user=alice, used_at__isnull=False).count() == 1

            page.click("details.account summary")
            page.click("text=Change password")
            page.fill("#id_old_password", "wrong")
            page.fill("#id_new_password1", "a-brand-new-passphrase-7")
            page.fill("#id_new_password2", "a-brand-new-passphrase-7")
            page.click("text=Change password >> nth=-1")
            expect(page.locator("[role=alert]").first).to_be_visible()
            shoot(page, "account-password-change")
            page.fill("#id_old_password", "alice-password-1")
            page.fill("#id_new_password1", "a-brand-new-passphrase-7")
            page.fill("#id_new_password2", "a-brand-new-passphrase-7")
            page.click("button:has-text('Change password')")
            expect(page.locator("h1")).to_have_text("Password changed")
            shoot(page, "account-password-changed")

            anonymous = browser.new_page(viewport={"width": 1280, "height": 800})
            anonymous.goto(f"{base}/accounts/password/reset/")
            shoot(anonymous, "account-password-reset")
            anonymous.fill("#id_email", "alice@example.com")
            anonymous.click("[type=submit]")
            expect(anonymous.locator("h1")).to_have_text("Check your e-mail")
            shoot(anonymous, "account-password-reset-sent")
            alice.refresh_from_db()
            uid = urlsafe_base64_encode(force_bytes(alice.pk))
            anonymous.goto(f"{base}/accounts/password/reset/{uid}/{default_token_generator.make_token(alice)}/")
            expect(anonymous.locator("h1")).to_have_text("Choose a new password")
            shoot(anonymous, "account-password-reset-confirm")
            anonymous.goto(f"{base}/accounts/password/reset/{uid}/not-a-token/")
            expect(anonymous.locator("h1")).to_have_text("This link no longer works")
            shoot(anonymous, "account-password-reset-invalid")
            assert not errors, errors
        finally:
            browser.close()
