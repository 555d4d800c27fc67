"""The monitoring models, one module per concern."""

from monitoring.models.certificates import CertificateCheck
from monitoring.models.incidents import Incident
from monitoring.models.maintenance import MaintenanceWindow
from monitoring.models.notifications import NotificationConfig, NotificationDelivery
from monitoring.models.results import PingResult
from monitoring.models.servers import Server, ServerStatus, StatusChange

__all__ = [
    "CertificateCheck",
    "Incident",
    "MaintenanceWindow",
    "NotificationConfig",
    "NotificationDelivery",
    "PingResult",
    "Server",
    "ServerStatus",
    "StatusChange",
]
