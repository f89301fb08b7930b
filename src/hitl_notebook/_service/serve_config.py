"""What ``hitl serve`` answers besides its bearer-token API, read from flags or the environment:

- answer links (``/a/{token}``): ``--link-keys FILE`` or ``$HITL_LINK_KEYS`` (``kid:secret``
  pairs, newest first, as the sending processes use them);
- Slack's buttons (``/slack/actions``): ``--slack-secret-file FILE`` or
  ``$HITL_SLACK_SIGNING_SECRET`` (the Slack app's signing secret);
- who is who on Slack: ``--directory FILE`` or ``$HITL_DIRECTORY`` (a JSON file:
  ``{"alice": {"slack": "U024BE7LH", "email": "alice@example.com"}}``).

Each part is off when nothing configures it. Secrets are read from files or the environment,
never from the command line (``ps`` shows it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from hitl_notebook._core.errors import ConfigurationError
from hitl_notebook._core.links import ENV_LINK_KEYS, LinkKeys
from hitl_notebook._core.notify import Directory
from hitl_notebook._service.http_slack import ENV_SLACK_SECRET

__all__ = ["ENV_DIRECTORY", "ServeOptions", "serve_options"]

ENV_DIRECTORY = "HITL_DIRECTORY"


@dataclass(frozen=True)
class ServeOptions:
    """The keyword arguments of ``create_app`` that turn on answer links and Slack."""

    link_keys: LinkKeys | None = None
    slack_signing_secret: str | None = None
    directory: Directory | None = None


def serve_options(
    link_keys: str | None = None,
    slack_secret_file: str | None = None,
    directory: str | None = None,
) -> ServeOptions:
    """Read the files named by the flags, else the environment."""
    keys = None
    if link_keys is not None:
        keys = LinkKeys.parse(_read(link_keys, "link keys"), source=link_keys)
    elif os.environ.get(ENV_LINK_KEYS, "").strip():
        keys = LinkKeys.from_env()
    secret = (
        _read(slack_secret_file, "Slack signing secret").strip()
        if slack_secret_file is not None
        else os.environ.get(ENV_SLACK_SECRET, "").strip()
    )
    directory_file = directory or os.environ.get(ENV_DIRECTORY, "").strip() or None
    people = None
    if directory_file is not None:
        try:
            people = Directory(json.loads(_read(directory_file, "directory")))
        except (ValueError, TypeError, AttributeError) as error:
            raise ConfigurationError(
                f"The directory {directory_file} is not JSON of person -> {{channel: address}}: "
                f"{error}"
            ) from None
    return ServeOptions(keys, secret or None, people)


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as error:
        raise ConfigurationError(f"Cannot read the {what} file {path}: {error}") from error
