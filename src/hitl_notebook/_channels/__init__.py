"""The built-in channels: each a ``Notifier`` (``_core.notify``) that delivers a ``Notification``
to one kind of receiver, and the configuration of a worker's channels from its environment.

- ``webhook``: a JSON POST signed the Standard Webhooks way;
- ``slack``: a Block Kit message with answer buttons (a bot token also updates it once decided);
- ``mail``: an e-mail with a text and an HTML part and the recipient's answer links;
- ``apprise``: anything apprise reaches (the ``apprise`` extra), broadcast only;
- ``posting`` (one HTTP POST and what its outcome means for the schedule) and ``message`` (what
  every channel says about an event) are shared by the channels;
- ``environment``: the channels a worker configures from ``HITL_*`` variables and the ``notify:``
  section of dbos-config.yaml.

A channel only delivers: the schedule (``_runtime.schedule``) decides when, retries on
``RetryLater`` (and any other exception) with backoff, and records what happened in the history.
Every send may be repeated with the same ``Notification.key``; the channels pass it on so the
receiver can drop duplicates. Standard library only, except ``apprise``.
"""
