"""The runtime: the composition root (``bootstrap``), settings, the background modes
(the embedded runner and relay, Celery's app and tasks), logs and metrics."""
