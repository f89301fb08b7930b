"""The channels a worker sends through, from its environment: ``HITL_*`` variables and the
``notify:`` section of the nearest dbos-config.yaml (a variable wins over the same setting in the
file). ``hitl worker`` configures these before it imports the agents, so a module that calls
``channels.configure`` itself replaces them.

=========================  ====================================================================
Variable                   Setting (``notify:`` section)
=========================  ====================================================================
``HITL_WEBHOOK_URL``       ``webhook.url``; with ``HITL_WEBHOOK_SECRET`` (``webhook.secret``)
``HITL_SLACK_TOKEN``       ``slack.token`` (a bot token); with ``HITL_SLACK_CHANNEL``
``HITL_SLACK_WEBHOOK_URL`` ``slack.webhook_url`` (an incoming webhook, instead of a token)
``HITL_SLACK_API_URL``     ``slack.api_url`` (default https://slack.com/api)
``HITL_SMTP_HOST``         ``email.host``; ``HITL_SMTP_PORT`` (25), ``HITL_SMTP_FROM``,
                           ``HITL_SMTP_USER``, ``HITL_SMTP_PASSWORD``, ``HITL_SMTP_STARTTLS``,
                           ``HITL_SMTP_SSL`` (``1``/``true``)
``HITL_APPRISE_URLS``      ``apprise.urls`` (separated by spaces; the ``apprise`` extra)
``HITL_DIRECTORY``         ``directory``: a JSON or YAML file ``{person: {channel: address}}``
                           (in the file, also the mapping itself)
=========================  ====================================================================

For example, in dbos-config.yaml (``${VAR}`` is read from the environment)::

    notify:
      webhook: {url: "https://hooks.example.com/hitl", secret: "${HITL_WEBHOOK_SECRET}"}
      email: {host: smtp.example.com, port: 587, sender: approvals@example.com, starttls: true}
      directory: {alice: {email: alice@example.com, slack: U024BE7LH}}
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from hitl_notebook._channels.apprise import Apprise
from hitl_notebook._channels.mail import Email
from hitl_notebook._channels.slack import Slack
from hitl_notebook._channels.webhook import Webhook
from hitl_notebook._core.errors import ConfigurationError
from hitl_notebook._core.notify import Directory, Notifier
from hitl_notebook._db.config import find_dbos_config

__all__ = ["ENVIRONMENT", "channels_from_environment"]

ENVIRONMENT: Mapping[str, tuple[str, str]] = {
    "HITL_WEBHOOK_URL": ("webhook", "url"),
    "HITL_WEBHOOK_SECRET": ("webhook", "secret"),
    "HITL_SLACK_TOKEN": ("slack", "token"),
    "HITL_SLACK_CHANNEL": ("slack", "channel"),
    "HITL_SLACK_WEBHOOK_URL": ("slack", "webhook_url"),
    "HITL_SLACK_API_URL": ("slack", "api_url"),
    "HITL_SMTP_HOST": ("email", "host"),
    "HITL_SMTP_PORT": ("email", "port"),
    "HITL_SMTP_FROM": ("email", "sender"),
    "HITL_SMTP_USER": ("email", "username"),
    "HITL_SMTP_PASSWORD": ("email", "password"),
    "HITL_SMTP_STARTTLS": ("email", "starttls"),
    "HITL_SMTP_SSL": ("email", "ssl"),
    "HITL_APPRISE_URLS": ("apprise", "urls"),
}
"""Each variable and the setting it gives: (channel, option)."""
ENV_DIRECTORY = "HITL_DIRECTORY"
SECTION = "notify"

_CHANNELS: Mapping[str, Callable[..., Notifier]] = {
    "webhook": Webhook,
    "slack": Slack,
    "email": Email,
    "apprise": Apprise,
}
_FLAGS = {"starttls", "ssl"}
_NUMBERS = {"port", "timeout_s"}
_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def channels_from_environment(
    environ: Mapping[str, str] | None = None, config: Path | None = None
) -> tuple[list[Notifier], Directory]:
    """The channels and the directory that the variables and ``config`` (default: the nearest
    dbos-config.yaml) describe; nothing described, no channels."""
    env = os.environ if environ is None else environ
    path = config if config is not None else find_dbos_config()
    settings = _section(path, env) if path is not None else {}
    source = f"the {SECTION}: section of {path}" if path is not None else "the environment"
    for variable, (channel, option) in ENVIRONMENT.items():
        value = env.get(variable, "").strip()
        if value:
            settings.setdefault(channel, {})[option] = value
    directory_value: Any = settings.pop("directory", None)
    if env.get(ENV_DIRECTORY, "").strip():
        directory_value = env[ENV_DIRECTORY].strip()
    channels = [_channel(kind, options, source) for kind, options in settings.items() if options]
    return channels, _directory(directory_value, path)


def _section(path: Path, env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigurationError(f"Cannot read {path}: {error}") from error
    section = data.get(SECTION) if isinstance(data, dict) else None
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigurationError(f"The {SECTION}: section of {path} is a mapping of channels.")
    found: dict[str, dict[str, Any]] = {}
    for kind, options in section.items():
        if kind == "directory":
            found[kind] = _expand(options, env)
            continue
        if kind not in _CHANNELS or not isinstance(options, dict):
            raise ConfigurationError(
                f"{path}: {SECTION}.{kind} is not a channel; use one of "
                f"{', '.join(_CHANNELS)}, each a mapping of options (or directory)."
            )
        found[kind] = _expand(options, env)
    return found


def _expand(value: Any, env: Mapping[str, str]) -> Any:
    """``${VAR}`` in the file's strings, from the environment."""
    if isinstance(value, str):
        return _ENV_VAR.sub(lambda m: env.get(m.group(1), ""), value)
    if isinstance(value, dict):
        return {key: _expand(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, env) for item in value]
    return value


def _channel(kind: str, options: dict[str, Any], source: str) -> Notifier:
    arguments = {option: _typed(option, value) for option, value in options.items()}
    if kind == "apprise" and isinstance(arguments.get("urls"), str):
        arguments["urls"] = arguments["urls"].split()
    try:
        return _CHANNELS[kind](**arguments)
    except (TypeError, ValueError) as error:
        raise ConfigurationError(
            f"The {kind} channel of {source} and the HITL_* variables cannot be made: {error}"
        ) from error


def _typed(option: str, value: Any) -> Any:
    if option in _FLAGS and isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    if option in _NUMBERS and isinstance(value, str):
        try:
            return float(value) if option == "timeout_s" else int(value)
        except ValueError:
            raise ConfigurationError(f"{option} is a number, not {value!r}.") from None
    return value


def _directory(value: Any, config: Path | None) -> Directory:
    if value is None or value == "":
        return Directory()
    if isinstance(value, str):
        path = Path(value).expanduser()
        if not path.is_absolute() and config is not None and not path.exists():
            path = config.parent / path
        try:
            text = path.read_text()
            value = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as error:
            raise ConfigurationError(f"Cannot read the directory {path}: {error}") from error
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ConfigurationError(
            "A directory maps each person to their addresses: {alice: {email: ..., slack: ...}}."
        )
    try:
        return Directory({str(k): {str(c): str(a) for c, a in v.items()} for k, v in value.items()})
    except ValueError as error:
        raise ConfigurationError(f"The directory is not valid: {error}") from error
