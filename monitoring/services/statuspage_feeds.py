"""Atom and RSS feeds of a public status page (SPEC §21): `/status/<slug>/feed.atom` and `feed.rss`.

Entries: every update of the page's incident posts (open, and the last HISTORY_POSTS resolved),
its active and upcoming maintenance windows, and, when the page's ``publish_outages`` is on,
its automatic incidents (a server DOWN, and back). Everything comes from the page's public
summary (``services.statuspages``), so a feed says nothing the page does not; servers are
named through ``public_server_name`` there. Valid Atom 1.0 (each entry has ``id``, ``title``,
``updated``) and RSS 2.0 (each item ``title``, ``guid``, ``pubDate``), made by feedgen.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import quote

from feedgen.feed import FeedGenerator

from monitoring.models import StatusPage
from monitoring.services.statuspages import PageSummary

Kind = Literal["atom", "rss"]
CONTENT_TYPES: dict[str, str] = {"atom": "application/atom+xml", "rss": "application/rss+xml"}
STATUS_WORDS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def build_feed(page: StatusPage, summary: PageSummary, kind: Kind, base_url: str) -> bytes:
    """The page's feed as XML bytes; ``base_url`` is ``PUBLIC_URL`` (or the request's origin)."""
    page_url = f"{base_url}/status/{page.slug}/"
    history_url = f"{page_url}history/"
    fg = FeedGenerator()
    fg.id(page_url)
    fg.title(f"{summary['title']} status")
    fg.subtitle(summary["description"] or f"Incidents and maintenance of {summary['title']}")
    fg.link(href=page_url, rel="alternate")
    fg.link(href=f"{page_url}feed.{kind}", rel="self")
    fg.language("en")
    newest = _time(summary["generated_at"])
    entries: list[tuple[datetime, str, str, str, str]] = []  # (updated, id, title, html, link)

    for post in summary["posts"] + summary["history"]:
        link = page_url if post["resolved_at"] is None else f"{history_url}#post-{post['id']}"
        for update in post["updates"]:
            title = f"{post['title']} — {STATUS_WORDS.get(update['status'], update['status'])}"
            affected = f"<p>Affected: {', '.join(post['servers'])}</p>" if post["servers"] else ""
            entries.append(
                (
                    _time(update["created_at"]),
                    f"{page_url}posts/{post['id']}/updates/{update['id']}",
                    title,
                    update["html"] + affected,
                    link,
                )
            )
    for window in summary["maintenance"]:
        word = "in progress" if window["active"] else "scheduled"
        entries.append(
            (
                _time(window["starts_at"]),  # an upcoming window's is ahead: it is the news
                f"{page_url}maintenance/{quote(window['name'], safe='')}/{quote(window['starts_at'])}",
                f"Maintenance {word}: {window['name']}",
                f"<p>{window['starts_at']} – {window['ends_at']}</p>",
                page_url,
            )
        )
    if page.publish_outages:
        for incident in summary["incidents"]:
            ended = incident["ended_at"]
            title = f"{incident['server']} is down" if ended is None else f"{incident['server']} was down"
            text = (
                f"<p>Down since {incident['started_at']}</p>"
                if ended is None
                else f"<p>Down from {incident['started_at']} to {ended}</p>"
            )
            entries.append(
                (
                    _time(ended or incident["started_at"]),
                    f"{page_url}outages/{quote(incident['server'], safe='')}/{quote(incident['started_at'])}",
                    title,
                    text,
                    page_url,
                )
            )

    entries.sort(key=lambda e: (e[0], e[1]))  # feedgen adds each new entry on top: newest first
    for updated, entry_id, title, html, link in entries:
        fe = fg.add_entry()
        fe.id(entry_id)
        fe.guid(entry_id, permalink=False)
        fe.title(title)
        fe.link(href=link)
        if kind == "atom":
            fe.content(html, type="html")
        else:
            fe.description(html)
        fe.updated(updated)
        fe.published(updated)
    fg.updated(max([newest] + [e[0] for e in entries]) if entries else newest)
    if kind == "atom":
        return fg.atom_str(pretty=True)
    fg.description(summary["description"] or f"Incidents and maintenance of {summary['title']}")
    return fg.rss_str(pretty=True)
