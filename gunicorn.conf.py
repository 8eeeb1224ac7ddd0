"""gunicorn settings for `gunicorn -c gunicorn.conf.py app:app`: they live in loci/serving/gunicorn_config.py."""

from loci.serving.gunicorn_config import *  # noqa: F403
