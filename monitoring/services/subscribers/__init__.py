"""Status page subscribers (SPEC §21): who subscribes (``subscriptions``), what a page tells them
(``events``), and the queue that sends it (``sending``)."""
