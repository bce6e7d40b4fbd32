"""Loaded by lpa before the user's locustfile (`-f lpa_failures.py,LOCUSTFILE`)
to make Locust's failures complete: requests still unanswered when the run
stops become failures, and the failures CSV is written once, at exit, into
this file's directory.

Unanswered requests: Locust records a request when it returns. One still in
flight when the run stops (run time + --stop-timeout) is killed with its user
and recorded nowhere, so a service that hangs read as 0 requests, exit code
0: "no data", where lpa's native driver counts it as a failure with its
elapsed time, and a hang must read as slow. This wraps the `request` method
of Locust's two clients (HttpSession for HttpUser, FastHttpSession for
FastHttpUser; their get/post/... and rest() all go through it). When the user
is killed inside one when the run stops, and the request began before the
stop or in the grace (see _unanswered), the wrapper fires Locust's request
event as a failure, "no response within run time + grace" as the native
driver words it, timed from the request's start to the kill, and lets the
kill go on. The event fires inside the runner's stop, before Locust computes
its exit code and writes --json-file and this CSV, so both count it. A
request killed any other time (a LoadTestShape ramping down) is left as
Locust leaves it; a client of the user's own that does not go through these
two `request` methods is not seen.

Why not `--csv`: Locust rewrites PREFIX_failures.csv once a second while it
runs and not at exit, so the file misses the failures of the last second
(166 of 253 in a 2 s run). This writes the same rows with Locust's own code
(StatsCSV.failures_csv) from the final statistics, after the users have
stopped: the same moment Locust writes --json-file, so the occurrences add up
to the JSON's num_failures.

It defines no User class, so it adds no users. Errors are swallowed: an
exception in an event listener would make Locust log it and exit 2, turning
lpa's missing failure kinds into a failed run; lpa notices the missing file
instead. The wrapper's own errors are swallowed too, so at worst a request
goes unrecorded, as without it.

It also ends Locust when lpa dies without stopping it (see the end)."""

import csv
import functools
import os
import shutil
import time

import gevent.monkey
from gevent import GreenletExit
from locust import events

_environments = []

# The native driver's words for it, so both drivers key the failure alike.
NO_RESPONSE = "no response within run time + grace"


class NoResponse(Exception):
    """The failure of a request still in flight when the run stopped. Locust
    names a failure by repr(), so repr() is the message alone."""

    # HttpSession's error response reads the failed request from here, as
    # from a requests exception; there is none to give.
    request = None

    def __init__(self):
        super().__init__(NO_RESPONSE)

    def __repr__(self):
        return NO_RESPONSE

    def __str__(self):
        return NO_RESPONSE


@events.init.add_listener
def _keep_environment(environment, **_kwargs):
    # `quit` does not pass the environment.
    _environments.append(environment)


# perf_counter() when the runner began to stop the run; None before.
_stop_began = None


def _note_stop(**_kwargs):
    global _stop_began
    if _stop_began is None:
        _stop_began = time.perf_counter()


# A Locust without the event (2.47 has it) records no unanswered requests,
# as before; failing the import would fail every run.
if hasattr(events, "test_stopping"):
    events.test_stopping.add_listener(_note_stop)


def _unanswered(session, started):
    """Whether a request killed with its user went unanswered through the
    run: it started before the stop, or in the grace, by a user finishing
    its task. Not one a user started as the stop killed it: Locust kills a
    waiting user at once, but the kill lands at gevent's next turn, by which
    time the user may have woken and sent its next request (3 of 832 in a
    3 s run); that request had no time to be answered, and Locust drops it."""
    if _stop_began is None:
        return False
    if started < _stop_began:
        return True
    try:
        from locust.user.task import LOCUST_STATE_STOPPING

        return session.user._state == LOCUST_STATE_STOPPING
    except Exception:
        return False


def _name(session, method, url, name, kwargs, fast):
    """The name Locust would have recorded the request under."""
    name = name or getattr(session, "request_name", None)
    if name:
        return name
    if fast:
        # FastHttpSession: the URL as given.
        return url
    # HttpSession: the path and query of the URL sent (params included).
    try:
        import requests

        request = requests.Request(method, session._build_url(url), params=kwargs.get("params"))
        return session.prepare_request(request).path_url
    except Exception:
        return str(url)


def _error_response(error, fast):
    """A response object like the one each client passes for a request that
    got none (a refused connection), for request listeners that read it."""
    try:
        if fast:
            from locust.contrib.fasthttp import ErrorResponse

            return ErrorResponse(None, error)
        from locust.clients import ResponseContextManager

        return ResponseContextManager(error)
    except Exception:
        return None


def _record_unanswered(session, method, url, args, kwargs, fast, started, started_at):
    elapsed_ms = (time.perf_counter() - started) * 1000
    name = kwargs.get("name", args[0] if args else None)
    context = kwargs.get("context") or {}
    user = getattr(session, "user", None)
    if user is not None:
        context = {**user.context(), **context}
    error = NoResponse()
    session.request_event.fire(
        request_type=method,
        name=_name(session, method, url, name, kwargs, fast),
        response_time=elapsed_ms,
        response_length=0,
        response=_error_response(error, fast),
        context=context,
        exception=error,
        start_time=started_at,
        url=url,
    )


def _wrap(cls, fast):
    original = cls.request
    if getattr(original, "_lpa_unanswered", False):
        return

    @functools.wraps(original)
    def request(self, method, url, *args, **kwargs):
        started_at = time.time()
        started = time.perf_counter()
        try:
            return original(self, method, url, *args, **kwargs)
        except GreenletExit:
            try:
                if _unanswered(self, started):
                    _record_unanswered(self, method, url, args, kwargs, fast, started, started_at)
            except Exception:
                pass
            raise

    request._lpa_unanswered = True
    cls.request = request


def _wrap_clients():
    try:
        from locust.clients import HttpSession

        _wrap(HttpSession, fast=False)
    except Exception:
        pass
    try:
        from locust.contrib.fasthttp import FastHttpSession

        _wrap(FastHttpSession, fast=True)
    except Exception:
        pass


_wrap_clients()


@events.quit.add_listener
def _write_failures(**_kwargs):
    try:
        from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "failures.csv")
        with open(path, "w", newline="") as f:
            StatsCSV(_environments[0], PERCENTILES_TO_REPORT).failures_csv(csv.writer(f))
    except Exception:
        pass


# lpa killed with SIGKILL (CPA kills a hook past its timeout so) cannot stop
# Locust, which went on loading the service beside the next run's probe,
# until its run time, or for good if it hung, and left this directory
# behind. However lpa dies, Locust is handed to another parent: then this
# directory goes and Locust exits.
# lpa's pid, which lpa names: a LOCUST_BIN that is a wrapper script is
# Locust's parent, and outlived lpa. The parent when run by hand.
_lpa = int(os.environ.get("LPA_PID") or os.getppid())
_locust = os.getpid()


def _seen(pid):
    """The start time of `pid` (field 22 of /proc/PID/stat), or None when it
    is gone or a zombie: with its start time, a pid that another process
    took meanwhile is not taken for lpa."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


_lpa_seen = _seen(_lpa)


def _lpa_gone():
    if _lpa_seen is not None:
        return _seen(_lpa) != _lpa_seen
    # No /proc: whether the pid is there at all.
    try:
        os.kill(_lpa, 0)
    except ProcessLookupError:
        return True
    except OSError:
        pass
    return False


def _leave():
    here = os.path.dirname(os.path.abspath(__file__))
    # Only the directory lpa made for this run: a copy of this file loaded
    # from anywhere else must not take its directory along.
    if os.path.basename(here).startswith("lpa-locust-"):
        shutil.rmtree(here, ignore_errors=True)
    os._exit(1)


def _exit_with_lpa():
    # A real thread: a greenlet runs only when the code running yields,
    # and a task that never does (a busy loop) or a locustfile whose import
    # blocks kept Locust alive for good after lpa was gone. This file is
    # imported before the locustfile for the same reason. lpa pins
    # --processes 0, so no forked worker needs watching.
    sleep = gevent.monkey.get_original("time", "sleep")
    while os.getpid() == _locust:
        sleep(0.5)
        if _lpa_gone():
            _leave()


gevent.monkey.get_original("_thread", "start_new_thread")(_exit_with_lpa, ())
