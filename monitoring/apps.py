from __future__ import annotations

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from monitoring.services.engine import recording
        from monitoring.services.subscribers import events

        if events.on_status_changes not in recording.CHANGE_LISTENERS:
            recording.CHANGE_LISTENERS.append(events.on_status_changes)
