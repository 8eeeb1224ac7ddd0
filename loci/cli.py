"""The command line: `python -m loci import FILE.jsonl` sends a file of memories to a running service;
`restore FILE` and `migrate --from URL` load a backup or a running AutoMem (loci/migrate.py);
`mcp --url URL` serves the MCP tools on stdio (loci/mcp/stdio.py); `serve` and `worker` run a
process of a fleet in one role (loci/roles.py).

Exit status: 0 when every line was stored (and, with --wait, is searchable); 1 when some
lines were refused, failed in the pipeline or were still pending at --timeout (a summary
names their line numbers); 2 when the import could not run (service unreachable,
wrong token, a progress log that does not fit the file).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import httpx
from tqdm import tqdm

from loci import roles
from loci.config import client_defaults
from loci.importer import Batch, Importer, ImportFailed, Outcome, Progress, ProgressLog, count_lines
from loci.mcp import stdio as mcp_stdio
from loci.migrate import add_commands, run_command

SHOWN = 20
"""Lines listed per kind of problem in the summary."""


def build_parser() -> argparse.ArgumentParser:
    defaults = client_defaults(os.environ)
    parser = argparse.ArgumentParser(prog="python -m loci", description="Loci command-line tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    imp = commands.add_parser(
        "import",
        help="import a JSONL file of memories into a running service",
        description="Send FILE (one memory per line: a JSON object with the fields of POST /memory, "
        "or a JSON string as the content) to the service in batches. Progress is logged next to "
        "the file, so running the same command again resumes where it stopped, without duplicates.",
    )
    imp.add_argument("file", type=Path, help="the JSONL file")
    imp.add_argument("--url", default=defaults["url"], help="the service (default: LOCI_URL or %(default)s)")
    imp.add_argument("--token", default=defaults["token"], help="API token (default: AUTOMEM_API_TOKEN)")
    imp.add_argument("--batch-size", type=_positive, default=500, help="memories per request (default: 500)")
    imp.add_argument("--wait", action="store_true", help="wait until every memory is searchable or has failed")
    imp.add_argument("--timeout", type=float, default=3600.0, help="how long --wait waits, in seconds")
    imp.add_argument("--log", type=Path, help="progress log (default: FILE.import-log)")
    imp.add_argument("--restart", action="store_true", help="ignore an earlier progress log and start again")
    add_commands(commands, defaults)  # restore, migrate (loci/migrate.py)
    mcp_stdio.add_command(commands, defaults)  # mcp (loci/mcp/stdio.py)
    roles.add_commands(commands)  # serve, worker (loci/roles.py)
    return parser


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("restore", "migrate"):
        return run_command(args)
    if args.command == "mcp":
        return mcp_stdio.run(args)
    if args.command in ("serve", "worker"):
        return roles.run(args)
    if not args.file.is_file():
        print(f"error: {args.file} is not a file", file=sys.stderr)
        return 2
    try:
        return run_import(args)
    except ImportFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run_import(args: argparse.Namespace) -> int:
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    log_path = args.log or args.file.with_name(args.file.name + ".import-log")
    journal = ProgressLog(log_path, args.file.resolve(), args.url.rstrip("/"))
    with httpx.Client(base_url=args.url, headers=headers, timeout=httpx.Timeout(120.0, connect=10.0)) as client:
        importer = Importer(client, journal)
        total = count_lines(args.file)
        with tqdm(total=total, unit="line", desc="import", disable=None) as bar:

            def advanced(batch: Batch) -> None:
                bar.n = batch.last
                bar.refresh()

            progress = importer.run(args.batch_size, restart=args.restart, on_batch=advanced)
        outcome = None
        if args.wait and progress.ids:
            with tqdm(total=len(set(progress.ids.values())), unit="memory", desc="searchable", disable=None) as bar:

                def polled(outcome: Outcome, waiting: int) -> None:
                    bar.n = outcome.completed + len(outcome.failed) + len(outcome.unknown)
                    bar.refresh()

                outcome = importer.wait(args.timeout, on_poll=polled)
    return report(progress, outcome, log_path, sys.stdout)


def report(progress: Progress, outcome: Outcome | None, log_path: Path, out: TextIO) -> int:
    """Print the summary; the exit status (1 if anything was refused, failed or is still pending)."""
    stored = len(set(progress.ids.values()))
    out.write(
        f"{len(progress.ids)} lines stored as {stored} memories "
        f"({progress.deduplicated} were repeats of memories already stored); "
        f"{len(progress.rejected)} lines refused. Progress log: {log_path}\n"
    )
    problems = bool(progress.rejected)
    _list(out, "refused", [(line, reason) for line, reason in sorted(progress.rejected.items())])
    if outcome is not None:
        out.write(
            f"searchable: {outcome.completed}, failed: {len(outcome.failed)}, "
            f"still pending: {len(outcome.pending)}, gone: {len(outcome.unknown)}\n"
        )
        _list(out, "failed", [(line, f"{stage}: {reason}") for line, stage, reason in outcome.failed])
        _list(out, "still pending", [(line, "") for line in outcome.pending])
        _list(out, "gone (deleted since)", [(line, "") for line in outcome.unknown])
        problems = problems or bool(outcome.failed or outcome.pending)
    return 1 if problems else 0


def _list(out: TextIO, kind: str, rows: list[tuple[int, str]]) -> None:
    for line, reason in rows[:SHOWN]:
        out.write(f"  {kind}: line {line}{': ' + reason if reason else ''}\n")
    if len(rows) > SHOWN:
        out.write(f"  ... and {len(rows) - SHOWN} more {kind}\n")
