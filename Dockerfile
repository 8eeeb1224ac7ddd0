# Loci in a container: embedded FalkorDB and Qdrant, the local MiniLM model, gunicorn on $PORT.
# Set AUTOMEM_API_TOKEN: without a token the service only listens on 127.0.0.1 inside the container.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LOCI_DATA_DIR=/data \
    PORT=8001

WORKDIR /app
COPY requirements.txt .
# torch first from the CPU index, so the pinned 2.13.0 never resolves to a CUDA build
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install -r requirements.txt

COPY app.py gunicorn.conf.py ./
COPY loci ./loci

VOLUME ["/data"]
EXPOSE 8001
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"8001\")}/health', timeout=4)"
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app:app"]
