# Loci in a container: embedded FalkorDB and Qdrant, the local MiniLM model, gunicorn on $PORT.
# Set AUTOMEM_API_TOKEN: without a token the service only answers clients on the container's loopback.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LOCI_DATA_DIR=/data \
    PORT=8001

# dependencies first (a layer that survives code changes); torch from the CPU index, so the pinned
# 2.13.0 never resolves to a CUDA build
COPY requirements.txt /tmp/requirements.txt
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install -r /tmp/requirements.txt

# the whole project (.dockerignore leaves out what is local to a checkout), installed as a package;
# the sources are removed, so the service runs from the installed distribution alone
COPY . /src
RUN pip install --no-deps /src && rm -rf /src /tmp/requirements.txt && loci --help > /dev/null

WORKDIR /app
VOLUME ["/data"]
EXPOSE 8001
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"8001\")}/health', timeout=4)"
CMD ["gunicorn", "-c", "python:loci.serving.gunicorn_config", "app:app"]
