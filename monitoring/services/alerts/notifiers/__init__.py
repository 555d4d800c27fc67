"""One notifier class per channel (``base.Notifier``), found by notification_type in ``registry``."""
