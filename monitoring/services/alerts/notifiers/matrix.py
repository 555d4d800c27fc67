"""Matrix: one ``m.room.message`` into a room, through the client-server API of a homeserver (SPEC §18)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from monitoring.choices import NotificationType
from monitoring.services.alerts.notifiers.base import ServiceNotifier, post
from monitoring.services.alerts.notifiers.messages import notice_for, unmention

if TYPE_CHECKING:
    from monitoring.models import NotificationDelivery

# "@room" pings everyone in a Matrix room; like @channel elsewhere, it reads the same but notifies nobody.
ROOM_MENTION = re.compile(r"@(?=room\b)", re.IGNORECASE)


class MatrixNotifier(ServiceNotifier):
    """``api_base_url`` is the homeserver, the recipient a room id, ``secret`` the access token."""

    notification_type = NotificationType.MATRIX

    def send(self, delivery: NotificationDelivery) -> None:
        config = delivery.config
        notice = notice_for(delivery)
        text = ROOM_MENTION.sub("@\u200b", unmention(f"{notice.subject}\n{notice.message}"))
        # PUT with the delivery's id as the transaction id: a retry after a lost answer is the
        # same event to the homeserver, which posts it once.
        room = quote(config.recipient, safe="")
        url = f"{self.base_url(config)}/_matrix/client/v3/rooms/{room}/send/m.room.message/{delivery.pk}"
        headers = {"Authorization": f"Bearer {config.secret}"}
        post(url, json={"msgtype": "m.text", "body": text}, headers=headers, method="PUT")
