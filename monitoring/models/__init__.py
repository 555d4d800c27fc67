"""The monitoring models, one module per concern."""

from monitoring.models.certificates import CertificateCheck
from monitoring.models.incidents import Incident
from monitoring.models.metrics import MetricCounter
from monitoring.models.notifications import NotificationConfig, NotificationDelivery
from monitoring.models.results import PingResult
from monitoring.models.servers import Server, ServerStatus, StatusChange
from monitoring.models.statuspages import StatusPage

__all__ = [
    "CertificateCheck",
    "Incident",
    "MetricCounter",
    "NotificationConfig",
    "NotificationDelivery",
    "PingResult",
    "Server",
    "ServerStatus",
    "StatusChange",
    "StatusPage",
]
