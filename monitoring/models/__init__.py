"""The monitoring models, one module per concern."""

from monitoring.models.certificates import CertificateCheck
from monitoring.models.escalation import EscalationPolicy
from monitoring.models.incidents import Incident
from monitoring.models.locations import AgentReceipt, AgentToken, LocationStatus, ProbeLocation, ServerLocation
from monitoring.models.maintenance import MaintenanceWindow
from monitoring.models.metrics import MetricCounter
from monitoring.models.notifications import NotificationConfig, NotificationDelivery
from monitoring.models.posts import Announcement, IncidentPost, PostUpdate
from monitoring.models.results import HourlyRollup, PingResult, RawHistoryHorizon
from monitoring.models.servers import Server, ServerStatus, StatusChange
from monitoring.models.statuspages import StatusPage
from monitoring.models.subscribers import PageMessage, Subscriber, SubscriberDelivery

__all__ = [
    "AgentReceipt",
    "AgentToken",
    "LocationStatus",
    "ProbeLocation",
    "ServerLocation",
    "Announcement",
    "IncidentPost",
    "PostUpdate",
    "CertificateCheck",
    "EscalationPolicy",
    "HourlyRollup",
    "Incident",
    "MetricCounter",
    "MaintenanceWindow",
    "NotificationConfig",
    "NotificationDelivery",
    "PageMessage",
    "PingResult",
    "RawHistoryHorizon",
    "Server",
    "ServerStatus",
    "StatusChange",
    "StatusPage",
    "Subscriber",
    "SubscriberDelivery",
]
