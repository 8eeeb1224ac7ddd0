"""gunicorn settings: one worker process with threads (the embedded stores belong to one process), or
LOCI_WEB_PROCESSES of them in a fleet on external stores.

Used as `gunicorn -c python:loci.serving.gunicorn_config app:app` (the top-level
`gunicorn.conf.py` says the same for `make run` and the image). The bind address follows
the service's rule: loopback only unless an API token is set.
"""

import os

from loci.config import Settings

_settings = Settings.from_env(os.environ)

bind = [f"{_settings.bind_host}:{_settings.port}"]
workers = _settings.web_processes  # 1 unless the stores are external and the queues shared (docs/fleet.md)
worker_class = "loci.serving.worker.LociWorker"  # gthread, reading each request whole first
threads = 16
preload_app = False  # services (and their threads) must start inside the worker process
timeout = 300  # the worker opens the stores while booting: FalkorDB may replay its log for a while
graceful_timeout = 30
control_socket_disable = True
accesslog = None
