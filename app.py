"""Entry point: `gunicorn -c gunicorn.conf.py app:app` serves; `python app.py` runs the development server.

The app factory is `create_app()` (from `loci.factory`); `app` is the instance gunicorn loads.
"""

import signal
import sys

from loci.factory import create_app

app = create_app()

if __name__ == "__main__":
    # SIGTERM exits through atexit, so the stores are flushed and FalkorDB stopped cleanly
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    settings = app.extensions["loci"].settings
    app.run(host=settings.bind_host, port=settings.port, threaded=True, use_reloader=False)
