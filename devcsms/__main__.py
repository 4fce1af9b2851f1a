"""`python -m devcsms [--ocpp 2.0.1] ...`: the development CSMS (see devcsms.cli)."""

from .cli import main

raise SystemExit(main())
