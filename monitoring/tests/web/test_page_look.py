"""A status page's look (SPEC §21): groups and display names, logo, accent colour, footer, own domain."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from monitoring.models import StatusPage
from monitoring.services.engine import checks
from monitoring.services.statuspages import public_server_name
from monitoring.tests.factories import make_outcome, make_server

pytestmark = pytest.mark.django_db


def png(size: int = 0) -> bytes:
    """A 1×1 PNG, padded with an ancillary chunk to about ``size`` bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    body = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\0\0\0\0"))
    if size:
        body += chunk(b"tEXt", b"x" * size)
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


@pytest.fixture
def page(alice):
    return StatusPage.objects.create(owner=alice, slug="acme", title="Acme status", is_public=True)


def patch(client, page, data, **kw):
    return client.patch(f"/api/status-pages/{page.pk}/", data, **kw)


def test_groups_set_the_order_and_display_names_hide_the_real_names(alice, alice_client, page):
    db, web, loose = (make_server(alice, name=n) for n in ("db-primary-7", "web-eu-3", "zz-loose"))
    page.servers.add(loose)
    checks.record_outcome(db, make_outcome(ok=False))  # an incident, named on the page
    groups = [
        {"name": "Front", "servers": [{"server": web.pk, "display_name": "Website"}]},
        {"name": "Back", "servers": [{"server": db.pk, "display_name": "Database"}]},
    ]
    r = patch(alice_client, page, {"groups": groups}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["groups"] == groups
    body = Client().get("/api/status-pages/acme/summary/").json()
    assert [(s["group"], s["name"]) for s in body["servers"]] == [
        ("Front", "Website"),
        ("Back", "Database"),
        ("", "zz-loose"),
    ]
    assert body["groups"] == ["Front", "Back", ""]
    assert [i["server"] for i in body["incidents"]] == ["Database"]
    html = Client().get("/status/acme/").content.decode()
    assert html.index("Front") < html.index("Website") < html.index("Back") < html.index("Database")
    for text in (json.dumps(body), html):
        assert "db-primary-7" not in text and "web-eu-3" not in text
    page.refresh_from_db()
    assert public_server_name(page, db) == "Database" and public_server_name(page, loose) == "zz-loose"


def test_another_teams_or_a_repeated_server_in_groups_is_a_400(alice, alice_client, charlie, page):
    theirs, mine = make_server(charlie), make_server(alice)
    for servers in ([{"server": theirs.pk}], [{"server": mine.pk}, {"server": mine.pk}], [{"server": 10**20}]):
        r = patch(alice_client, page, {"groups": [{"name": "G", "servers": servers}]}, format="json")
        assert r.status_code == 400 and "groups" in r.json()
    for bad in ("nope", [{"servers": []}], [{"name": "x", "servers": "y"}], [{"name": "x\x00"}]):
        assert patch(alice_client, page, {"groups": bad}, format="json").status_code == 400
    page.refresh_from_db()
    assert page.groups == []


@pytest.mark.parametrize("colour", ["red", "#12", "#1234", "#gggggg", "123456", "#1234567", "#fff;}"])
def test_a_bad_accent_colour_is_a_400(alice_client, page, colour):
    r = patch(alice_client, page, {"accent_color": colour}, format="json")
    assert r.status_code == 400 and "accent_color" in r.json()


def test_the_accent_colour_and_footer_show_on_the_page(alice_client, page):
    r = patch(alice_client, page, {"accent_color": "#0A6", "footer_text": "Line one\n<b>bold</b>"}, format="json")
    assert r.status_code == 200 and r.json()["accent_color"] == "#0a6"
    html = Client().get("/status/acme/").content.decode()
    assert "--accent: #0a6" in html
    assert "Line one\n&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html


def test_the_history_page_wears_the_pages_look_too(alice_client, page):
    r = patch(alice_client, page, {"logo": SimpleUploadedFile("x.png", png(), "image/png")})
    assert r.status_code == 200, r.content
    r = patch(alice_client, page, {"accent_color": "#0a6", "footer_text": "Ask *us*"}, format="json")
    assert r.status_code == 200, r.content
    html = Client().get("/status/acme/history/").content.decode()
    assert "--accent: #0a6" in html and 'id="logo" src="/status/acme/logo"' in html
    assert 'id="footer-text"><p>Ask <em>us</em></p>' in html


def test_a_png_logo_is_stored_served_and_removed_by_null(alice_client, page):
    r = patch(alice_client, page, {"logo": SimpleUploadedFile("x.bin", png(), "application/octet-stream")})
    assert r.status_code == 200, r.content
    assert r.json()["logo"] == "/status/acme/logo"
    got = Client().get("/status/acme/logo")
    assert got.status_code == 200 and got["Content-Type"] == "image/png" and got.content == png()
    assert 'src="/status/acme/logo"' in Client().get("/status/acme/").content.decode()
    r = patch(alice_client, page, {"logo": None}, format="json")
    assert r.status_code == 200 and r.json()["logo"] is None
    assert Client().get("/status/acme/logo").status_code == 404


def test_a_private_pages_logo_is_404_to_strangers(alice, alice_client, page):
    patch(alice_client, page, {"logo": SimpleUploadedFile("l.png", png(), "image/png")})
    page.refresh_from_db()
    page.is_public = False
    page.save()
    assert Client().get("/status/acme/logo").status_code == 404
    owner = Client()
    owner.force_login(alice)
    assert owner.get("/status/acme/logo").status_code == 200


@pytest.mark.parametrize(
    "content",
    [
        png(262_144),  # too big
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        b"\xff\xd8\xff\xe0 a jpeg",
        b"<html><script>alert(1)</script></html>",
        b"\x89PNG\r\n\x1a\n garbage",
        b"",
    ],
)
def test_anything_but_a_small_png_or_svg_is_a_400_naming_logo(alice_client, page, content):
    r = patch(alice_client, page, {"logo": SimpleUploadedFile("logo.png", content, "image/png")})
    assert r.status_code == 400 and "logo" in r.json()
    page.refresh_from_db()
    assert page.logo_type == ""


SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"{}>{}'
    '<rect width="5" height="5"/></svg>'
)
HOSTILE_SVGS = [
    SVG.format(' onload="alert(1)"', "<script>alert(2)</script>"),
    '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x "boom">]>' + SVG.format("", '<rect onclick="alert(3)"/>&x;'),
    SVG.format("", '<foreignObject><iframe src="javascript:alert(4)"></iframe></foreignObject>'),
    SVG.format("", '<a xlink:href="javascript:alert(5)"><circle r="2"/></a>'),
    SVG.format("", '<image href="https://evil.example/track.png"/><use href="//evil.example/s.svg#a"/>'),
    SVG.format("", "<style>@import url(https://evil.example/x.css);</style>"),
    SVG.format("", '<rect style="fill:url(https://evil.example/p)" fill="url(https://evil.example/q)"/>'),
    SVG.format("", '<set attributeName="onmouseover" to="alert(6)"/><animate attributeName="href" to="javascript:a"/>'),
    SVG.format("", '<rect fill="url(#g)" ONLOAD="alert(8)"/><SCRIPT>alert(9)</SCRIPT>'),
]


@pytest.mark.parametrize("svg", HOSTILE_SVGS)
def test_a_hostile_svg_is_served_sanitised(alice_client, page, svg):
    r = patch(alice_client, page, {"logo": SimpleUploadedFile("logo.svg", svg.encode(), "image/svg+xml")})
    assert r.status_code == 200, r.content
    got = Client().get("/status/acme/logo")
    assert got["Content-Type"] == "image/svg+xml" and "sandbox" in got["Content-Security-Policy"]
    served = got.content.decode().lower()
    for bad in ("<script", "onload", "onclick", "onmouseover", "foreignobject", "javascript:", "evil.example",
                "<iframe", "<style", "@import", "<set", "<animate", "boom"):  # fmt: skip
        assert bad not in served, (bad, served)
    assert served.startswith("<svg") and "<rect" in served


def test_a_harmless_svg_keeps_its_drawing(alice_client, page):
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><defs><linearGradient id="g">'
        b'<stop offset="0" stop-color="#0a6"/></linearGradient></defs>'
        b'<circle cx="5" cy="5" r="4" fill="url(#g)"/></svg>'
    )
    patch(alice_client, page, {"logo": SimpleUploadedFile("l.svg", svg, "image/svg+xml")})
    served = Client().get("/status/acme/logo").content.decode()
    assert 'viewBox="0 0 10 10"' in served and "<linearGradient" in served and 'fill="url(#g)"' in served


# The page's own domain


@override_settings(ALLOWED_HOSTS=["testserver"])
def test_the_pages_domain_serves_it_at_the_root_whatever_allowed_hosts_says(alice_client, page):
    r = patch(alice_client, page, {"domain": "Status.Acme-Example.com"}, format="json")
    assert r.status_code == 200 and r.json()["domain"] == "status.acme-example.com"
    for host in ("status.acme-example.com", "STATUS.acme-example.com:8443", "status.acme-example.com."):
        got = Client(HTTP_HOST=host).get("/")
        assert got.status_code == 200, (host, got.status_code)
        assert b"Acme status" in got.content and b"subscribe" in got.content
    assert Client(HTTP_HOST="status.acme-example.com").get("/api/status-pages/acme/summary/").status_code == 200
    assert Client(HTTP_HOST="other.example.com").get("/").status_code == 400  # still Django's host check


@override_settings(ALLOWED_HOSTS=["testserver"])
def test_a_private_pages_domain_answers_404(alice_client, page):
    patch(alice_client, page, {"domain": "status.acme-example.com", "is_public": False}, format="json")
    assert Client(HTTP_HOST="status.acme-example.com").get("/").status_code == 404
    assert Client(HTTP_HOST="status.acme-example.com").get("/status/acme/").status_code == 404


def test_only_its_own_page_is_served_at_its_domain(alice, alice_client, page):
    other = StatusPage.objects.create(owner=alice, slug="other", title="Other status", is_public=True)
    patch(alice_client, page, {"domain": "status.acme-example.com"}, format="json")
    patch(alice_client, other, {"domain": "status.other-example.com"}, format="json")
    assert b"Other status" in Client(HTTP_HOST="status.other-example.com").get("/").content
    assert b"Acme status" in Client(HTTP_HOST="status.acme-example.com").get("/").content


@pytest.mark.parametrize(
    "domain", ["http://status.example.com", "status.example.com/x", "status", "10.0.0.1", "-bad.example.com",
               "a..b.com", "status example.com", "x" * 260 + ".com"],
)  # fmt: skip
def test_a_domain_that_is_not_a_bare_host_name_is_a_400(alice_client, page, domain):
    r = patch(alice_client, page, {"domain": domain}, format="json")
    assert r.status_code == 400 and "domain" in r.json()


def test_a_domain_is_unique_whatever_its_case(alice, alice_client, page, charlie):
    StatusPage.objects.create(owner=charlie, slug="theirs", title="T", domain="status.example.com")
    r = patch(alice_client, page, {"domain": "STATUS.example.com"}, format="json")
    assert r.status_code == 400 and "domain" in r.json()
    assert patch(alice_client, page, {"domain": ""}, format="json").json()["domain"] is None


def test_the_footer_is_the_markdown_subset_and_a_script_stays_text(alice_client, page):
    text = "Run by [Acme](https://acme.example) *ops*\n\n<script>alert(1)</script> [x](javascript:alert(1))"
    assert patch(alice_client, page, {"footer_text": text}, format="json").status_code == 200
    html = Client().get("/status/acme/").content.decode()
    footer = html.split('id="footer-text">', 1)[1].split("</div>", 1)[0]
    assert '<a href="https://acme.example"' in footer and "<em>ops</em>" in footer
    assert "<script>" not in footer and "&lt;script&gt;" in footer and 'href="javascript:' not in footer
