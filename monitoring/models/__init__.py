"""The monitoring models, one module per concern."""

from monitoring.models.certificates import CertificateCheck
from monitoring.models.notifications import NotificationConfig
from monitoring.models.results import PingResult
from monitoring.models.servers import Server, ServerStatus, StatusChange

__all__ = ["CertificateCheck", "NotificationConfig", "PingResult", "Server", "ServerStatus", "StatusChange"]
