"""`python -m loci ...`: the command line (see loci/cli.py)."""

from loci.cli import main

raise SystemExit(main())
