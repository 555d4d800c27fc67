"""The Markdown subset of status pages (SPEC §21): what it makes, and what stays literal text."""

from __future__ import annotations

import re

import pytest

from monitoring.services.markdown import render_markdown


def test_paragraphs_emphasis_links_and_lists_are_html():
    html = render_markdown(
        "One *two* **three**\n\n- a\n- b\n\n1. x\n2. y\n\n[docs](https://example.com/x) [mail](mailto:ops@example.com)"
    )
    assert "<p>One <em>two</em> <strong>three</strong></p>" in html
    assert "<ul>\n<li>a</li>\n<li>b</li>\n</ul>" in html and "<ol>\n<li>x</li>" in html
    assert '<a href="https://example.com/x" rel="nofollow noopener noreferrer">docs</a>' in html
    assert '<a href="mailto:ops@example.com"' in html


@pytest.mark.parametrize(
    "source, literal",
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"),
        (
            '<a href="https://x.com" onclick="alert(1)">x</a>',
            '&lt;a href="https://x.com" onclick="alert(1)"&gt;x&lt;/a&gt;',
        ),
        ("<b>bold</b> <iframe src=//evil>", "&lt;b&gt;bold&lt;/b&gt; &lt;iframe src=//evil&gt;"),
        ("[click](javascript:alert(1))", "[click](javascript:alert(1))"),
        ("[click](JaVaScRiPt:alert(1))", "[click](JaVaScRiPt:alert(1))"),
        ("[click](data:text/html;base64,PHNjcmlwdD4=)", "[click](data:text/html;base64,PHNjcmlwdD4=)"),
        ("[click](vbscript:msgbox)", "[click](vbscript:msgbox)"),
        ("![logo](https://evil.example/x.png)", "![logo](https://evil.example/x.png)"),
        ('![x](https://e.com/i.png "t" onerror=alert(1))', "![x]("),
        ("# Heading", "# Heading"),
        ("> quoted", "&gt; quoted"),
        ("`code`", "`code`"),
        ("~~struck~~", "~~struck~~"),
        ("| a | b |\n|---|---|", "| a | b |"),
        ("<https://example.com>", "&lt;https://example.com&gt;"),
    ],
)
def test_anything_else_is_shown_as_escaped_text_never_dropped(source, literal):
    html = render_markdown(source)
    assert literal in html, html
    assert set(re.findall(r"<\s*/?\s*([a-zA-Z0-9]+)", html)) <= {"p"}, html  # no element but the paragraph


def test_no_tag_outside_the_allow_list_and_no_attribute_but_href_gets_through():
    html = render_markdown('[a](https://x.com "title") *[b](http://y.com)* - x')
    assert 'title="title"' not in html and "<a href=" in html
    tags = set(re.findall(r"<\s*([a-zA-Z0-9]+)", html))
    assert tags <= {"p", "em", "strong", "a", "ul", "ol", "li", "br"}
    attributes = set(re.findall(r"\s([a-z-]+)=", html))
    assert attributes <= {"href", "rel", "start"}


def test_empty_and_plain_text():
    assert render_markdown("") == ""
    assert render_markdown("a & b < c") == "<p>a &amp; b &lt; c</p>\n"
