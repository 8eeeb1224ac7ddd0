"""Backup and restore: the archive `GET /backup` streams, reading an archive (ours or AutoMem's),
and writing a restored page into the stores.

    archive.py  the tar.gz of GET /backup, built page by page from a point-in-time graph copy
    reader.py   a backup file read as records (both layouts), without loading it whole
    apply.py    one page of a restore written into the stores (POST /admin/restore)
"""
