"""Everything a process with only the database URL can do: answer (checked, stored once, the run
woken), read the inbox and the rows behind the frames, queue runs for workers, take DBOS messages
as answers. No DBOS launch and no agent code.

Imports ``_core`` and ``_db``.
"""
