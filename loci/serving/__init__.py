"""Serving Loci over HTTP: gunicorn's settings and the worker that keeps slow clients off request threads."""
