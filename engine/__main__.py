"""``python -m engine``: the same as the ``bybit-router`` command."""

from engine.cli import main

raise SystemExit(main())
