"""Process-local fan-out of live events: one channel-layer channel per process, not per client.

With a channel per WebSocket or SSE client, a check of a server watched by 1,000 clients of
one daphne process costs 1,000 receives through channels_redis (two tasks and a lock race
each), 1,000 dispatches and a group of 1,000 members that every publisher enumerates. In the
benchmark that put p99 near 650 ms (docs/PERFORMANCE.md). Here each process joins a layer
group once, for its first local subscriber, and hands each event to its local subscribers
directly: the channel layer still carries every event across processes, once per process.

Each message names the groups its events are for (``routes``; ``services.live.publish`` sends a
process one message per batch of checks, whatever the number of groups).
If receiving from the layer fails (Redis gone), every subscriber is told it was interrupted,
so its client reconnects and catches up (WebSocket ``latest``, SSE ``Last-Event-ID``) instead
of silently missing events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any, Protocol

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

#: A layer message to this process's channel from ``services.live.publish``: ``events`` (each
#: once, in order) and ``groups``, a list of [group, [positions of its events]].
ROUTED = "server.routed"

# channels_redis forgets a group member after group_expiry (a day); re-join well before that.
REFRESH_SECONDS = 3600.0
# How long joining a layer group may take before the subscriber is told the feed is down: an
# SSE request or a WebSocket subscribe made while Redis is unreachable answers, never hangs.
JOIN_TIMEOUT = 3.0
# Deliveries between yields to the event loop: sockets get their frames as the burst goes,
# not all at its end.
YIELD_EVERY = 64


class LiveUnavailable(Exception):
    """The channel layer could not be reached to join a group (Redis down or too slow)."""


class Subscriber(Protocol):
    async def deliver(self, event: dict[str, Any]) -> None:
        """Handle one live event; must not block (a send, a queue put)."""

    async def interrupted(self) -> None:
        """The feed broke and events may have been missed: make the client reconnect."""


class Fanout:
    """The subscribers of one event loop (one per process under daphne) and their layer groups."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.local: dict[str, set[Subscriber]] = {}
        self.channel: str | None = None
        self.receiver: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()

    async def join(self, group: str, subscriber: Subscriber) -> None:
        """Deliver ``group``'s events to ``subscriber``; the process joins the layer group on first use.

        Raises LiveUnavailable when the layer does not answer within JOIN_TIMEOUT.
        """
        try:
            await asyncio.wait_for(self._join(group, subscriber), JOIN_TIMEOUT)
        except Exception as exc:  # a timeout, a refused connection, any error of the layer
            log.warning("live_join_failed group=%s error=%r", group, exc)
            raise LiveUnavailable(f"the live feed is unavailable: {exc!r}") from exc

    async def _join(self, group: str, subscriber: Subscriber) -> None:
        async with self.lock:
            if self.channel is None:
                self.channel = await self.layer.new_channel()
            if group not in self.local:
                await self.layer.group_add(group, self.channel)
                self.local[group] = set()
            self.local[group].add(subscriber)
            # Receiving starts once a join worked (events sent meanwhile wait in the channel):
            # a join refused by a layer that is down leaves no receive pending on it.
            if self.receiver is None:
                self.receiver = asyncio.ensure_future(self.run(self.channel))

    async def leave(self, group: str, subscriber: Subscriber) -> None:
        """Stop delivering to ``subscriber``; the process leaves the layer group with its last one."""
        async with self.lock:
            members = self.local.get(group)
            if members is None:
                return
            members.discard(subscriber)
            if not members:
                del self.local[group]
                if self.channel is not None:
                    await self.layer.group_discard(group, self.channel)

    async def close(self) -> None:
        """Stop receiving and forget every subscriber (tests; daphne never closes its loop)."""
        receiver, self.receiver, self.channel, self.local = self.receiver, None, None, {}
        if receiver is not None:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver

    def subscribers(self, group: str) -> set[Subscriber]:
        return set(self.local.get(group, ()))

    async def run(self, channel: str) -> None:
        """Receive this process's events and hand each to the subscribers of its group.

        1. Wait for the next event, re-joining every group each REFRESH_SECONDS meanwhile;
           the pending receive is kept across waits, never cancelled, so nothing is dropped.
        2. Deliver it (each event of a batch, in order) to a snapshot of the group's subscribers,
           yielding to the loop every YIELD_EVERY; one failing subscriber is logged and the others still get it.
        3. If the layer fails, interrupt every subscriber and start afresh on the next join.
        """
        pending: asyncio.Future[Any] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(self.layer.receive(channel))
                done, _ = await asyncio.wait({pending}, timeout=REFRESH_SECONDS)
                if not done:
                    await self.refresh(channel)
                    continue
                message, pending = pending.result(), None
                n = 0
                for group, events in routes(message):
                    for event in events:
                        event = {**event, "group": group}
                        for subscriber in self.subscribers(group):
                            n += 1
                            if not n % YIELD_EVERY:
                                await asyncio.sleep(0)  # let the loop write out the frames queued so far
                            try:
                                await subscriber.deliver(event)
                            except Exception:
                                log.exception("live_deliver_failed group=%s", group)
        except Exception:  # the layer (Redis) failed; cancellation is not an Exception
            log.exception("live_fanout_failed channel=%s", channel)
            await self.reset(channel)
        finally:
            if pending is not None:
                pending.cancel()

    async def refresh(self, channel: str) -> None:
        async with self.lock:
            for group in list(self.local):
                await self.layer.group_add(group, channel)

    async def reset(self, channel: str) -> None:
        """Drop every subscriber after a layer failure; each one's client reconnects.

        Leaving the layer groups is best effort (the layer may be down); what is left behind
        expires with channels_redis' group_expiry.
        """
        async with self.lock:
            everyone = {s for members in self.local.values() for s in members}
            groups, self.local, self.channel, self.receiver = list(self.local), {}, None, None
        for group in groups:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.layer.group_discard(group, channel), 2)
        for subscriber in everyone:
            try:
                await subscriber.interrupted()
            except Exception:
                log.exception("live_interrupt_failed")


def routes(message: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The (group, its events in order) a layer message carries: a ``server.routed`` message
    names its groups; any other message is one event for the group it was sent to."""
    if message.get("type") == ROUTED:
        events = message["events"]
        return [(group, [events[n] for n in positions]) for group, positions in message["groups"]]
    return [(message.get("group", ""), [message])]


_fanouts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Fanout] = weakref.WeakKeyDictionary()


def fanout() -> Fanout:
    """The running loop's Fanout (daphne has one loop; each test its own), for the current layer."""
    loop = asyncio.get_running_loop()
    layer = get_channel_layer()
    current = _fanouts.get(loop)
    if current is None or current.layer is not layer:
        current = _fanouts[loop] = Fanout(layer)
    return current
