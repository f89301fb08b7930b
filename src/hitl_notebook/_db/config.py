"""Where the database is: an argument, an environment variable, dbos-config.yaml, or the default file.

Looked up in this order, the first that is set wins:

1. the ``database`` argument of ``launch()`` / ``connect()`` (a URL, or a path to a SQLite file);
2. the environment variable ``HITL_DATABASE_URL``, then ``DBOS_SYSTEM_DATABASE_URL``;
3. the nearest ``dbos-config.yaml`` (this directory or a parent), the file the ``dbos`` CLI reads
   too: its ``system_database_url`` (``${VAR}`` taken from the environment), or, when that is
   not set, DBOS's own default for it, ``<name>.sqlite`` beside the file, so that ``dbos
   workflow list`` run in that folder shows the same runs;
4. the embedded default: ``hitl.sqlite`` in ``HITL_HOME`` if set, else in the user data directory
   (``~/.local/share/hitl_notebook`` on Linux), whatever directory a notebook runs in.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import platformdirs
import yaml

from hitl_notebook._core.errors import ConfigurationError
from hitl_notebook._db.dbos_internals import dbos_default_database

__all__ = ["default_sqlite_path", "find_dbos_config", "resolve_database_url"]

ENV_URL = "HITL_DATABASE_URL"
ENV_DBOS_URL = "DBOS_SYSTEM_DATABASE_URL"
ENV_HOME = "HITL_HOME"
CONFIG_FILE = "dbos-config.yaml"
_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def default_sqlite_path() -> Path:
    """The embedded default database file."""
    home = os.environ.get(ENV_HOME)
    base = Path(home).expanduser() if home else Path(platformdirs.user_data_dir("hitl_notebook"))
    return base / "hitl.sqlite"


def find_dbos_config(start: Path | None = None) -> Path | None:
    """The nearest dbos-config.yaml in ``start`` (default: the working directory) or its parents."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
    return None


def resolve_database_url(database: str | os.PathLike[str] | None = None) -> str:
    """The system database URL, by the lookup order above."""
    if database is not None:
        return _as_url(os.fspath(database), source="the database argument")
    for var in (ENV_URL, ENV_DBOS_URL):
        value = os.environ.get(var, "").strip()
        if value:
            return _as_url(value, source=f"${var}")
    config = find_dbos_config()
    configured = _url_from_config(config) if config is not None else None
    if configured:
        return _as_url(configured, source=str(config))
    path = default_sqlite_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _url_from_config(path: Path) -> str | None:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigurationError(f"Cannot read {path}: {error}") from error
    if not isinstance(data, dict):
        return None
    raw = data.get("system_database_url")
    url = _ENV_VAR.sub(lambda m: os.environ.get(m.group(1), ""), str(raw or "")).strip()
    if url:
        return url
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    return f"sqlite:///{path.parent.resolve() / dbos_default_database(name)}"


def _as_url(value: str, *, source: str) -> str:
    if "://" in value:
        if value.startswith(("sqlite://", "postgresql://", "postgres://", "postgresql+")):
            return value.replace("postgres://", "postgresql://", 1)
        raise ConfigurationError(
            f"{source} gives {value!r}, which is neither sqlite:///path nor postgresql://...; "
            "fix it or unset it to use the embedded default."
        )
    path = Path(value).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"
