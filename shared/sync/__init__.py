"""Scheduled backups: plan (pure) and run a sync of every model and classifier to every target.

* `planner` — source vs targets diff: copy / recopy / up-to-date / orphan / blocked, no I/O.
* `state`   — copy records in the state table (classifiers and v2.1 models carry no tags).
* `run`     — lists, plans, executes (through the pipeline or directly), events; writes the DR
              status rows (`shared.status`).

See README.md in this folder.
"""
