"""Loaded by lpa beside the user's locustfile (`-f LOCUSTFILE,lpa_failures.py`)
to write Locust's failures CSV once, at exit, into this file's directory.

Why not `--csv`: Locust rewrites PREFIX_failures.csv once a second while it
runs and not at exit, so the file misses the failures of the last second
(166 of 253 in a 2 s run). This writes the same rows with Locust's own code
(StatsCSV.failures_csv) from the final statistics, after the users have
stopped: the same moment Locust writes --json-file, so the occurrences add up
to the JSON's num_failures.

It defines no User class, so it changes nothing about the run. Errors are
swallowed: an exception in an event listener would make Locust log it and
exit 2, turning lpa's missing failure kinds into a failed run; lpa notices
the missing file instead."""

import csv
import os

from locust import events

_environments = []


@events.init.add_listener
def _keep_environment(environment, **_kwargs):
    # `quit` does not pass the environment.
    _environments.append(environment)


@events.quit.add_listener
def _write_failures(**_kwargs):
    try:
        from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "failures.csv")
        with open(path, "w", newline="") as f:
            StatsCSV(_environments[0], PERCENTILES_TO_REPORT).failures_csv(csv.writer(f))
    except Exception:
        pass
