"""The host name a task instance records (``[core] hostname_callable``).

Airflow records ``socket.getfqdn()``; ``nightjar airflow worker --name`` sets
``NIGHTJAR_WORKER_NAME``, so that two Celery workers on one host (as the tests run them,
standing in for two machines) record which of them ran each task.
"""

from __future__ import annotations

import os
import socket


def worker_hostname() -> str:
    """The worker's name when ``nightjar airflow worker`` started it, else the host's."""
    return os.environ.get("NIGHTJAR_WORKER_NAME") or socket.getfqdn()
