"""Autogenerate an Alembic migration from the models: `python scripts/new_migration.py "message"`.

Runs against a throw-away SQLite database brought to head first, so the new
migration holds exactly what the models add.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.db.session import alembic_config, make_engine, migrate  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    url = f"sqlite:///{tmp}/m.sqlite3"
    engine = make_engine(url)
    migrate(engine)
    cfg = alembic_config(url)
    command.revision(cfg, message=sys.argv[1], autogenerate=True)
