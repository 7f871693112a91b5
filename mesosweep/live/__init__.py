"""The live page of a sweep: a small tornado app, served by the driver while the sweep runs.

``mesosweep run`` subscribes a :class:`LivePageSubscriber` to the runner's events
(:mod:`ensemble.events`): the page starts when the sweep starts and stops when it ends;
``mesosweep status --serve`` serves a :class:`LivePage` on its own. The page shows
:func:`ensemble.observe.read_status`: the store's summary, the driver's heartbeat and the
progress of the stages in flight, exactly what ``mesosweep status`` shows.

Why a separate small app rather than a route on Dask's dashboard: the page shows what the
*store* says (the same dict as ``mesosweep status``, from :mod:`ensemble.status`), not what the
scheduler holds, so it needs nothing from Dask; a route on the scheduler's web server would have
to be registered in Dask's configuration before the cluster starts (the cluster is started
elsewhere, for Slurm and PBS too), would die with the scheduler, and would tie the page to the
internals of one Dask version. Tornado is already here (it is Dask's web server), so this adds
no dependency. The page links to the standard Dask pages instead.

The app runs on its own thread with its own event loop, so it never competes with the Dask
client's loop in the driver, and binds 127.0.0.1 by default. Only three fixed files and one
JSON endpoint are served; every value from the store reaches the page as text (never as HTML).
The page's own links are relative, so it works behind a proxy that strips a prefix (Jupyter
server proxy's ``/proxy/PORT/``, Open OnDemand's ``/rnode/HOST/PORT/``) as it is; behind one
that passes the whole path on (``/node/HOST/PORT/``, ``/proxy/absolute/PORT/``) it is served
under that base path. A loopback page answers only requests addressed to a loopback name or to
one of the allowed hosts (the proxy's name), which stops DNS rebinding.

Environment (read by :func:`start_live_page`, i.e. by ``mesosweep run``'s subscriber):

- ``MESOSWEEP_DASHBOARD_PORT``: port of the page (default 0: a free port, printed at start);
  ``off`` starts no page.
- ``MESOSWEEP_DASHBOARD_HOST``: address to bind (default 127.0.0.1). Anything but a loopback
  address exposes failure logs to whoever reaches the host: prefer the SSH tunnel.
- ``MESOSWEEP_DASHBOARD_BASE_PATH``: URL path the page is served under (default ``/``).
- ``MESOSWEEP_DASHBOARD_ALLOWED_HOSTS``: comma-separated host names the page also answers to.
"""

from __future__ import annotations

import asyncio
import getpass
import ipaddress
import json
import logging
import math
import os
import re
import socket
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tornado.httpserver
import tornado.netutil
import tornado.web

from mesosweep.ensemble.events import Event, SweepFinished, SweepStarted
from mesosweep.ensemble.observe import read_status

LOG = logging.getLogger("mesosweep.live")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_REFRESH_S = 2.0  # how often the page asks; the store changes on a scale of seconds
CACHE_S = 1.0  # several tabs (or people) share one read of the store per second…
READ_SHARE = 3.0  # …or per READ_SHARE × the last read's duration, if longer: a big store on a
# slow shared filesystem must not keep the driver's host busy reading it
DRAIN_MAX_S = 5.0  # at most this long, at the end, for watching pages to fetch the final state
MAX_CLIENTS = 200  # pages remembered for that drain (oldest forgotten first)
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")
# A base path is plain URL path segments: nothing a regex route or an HTML page would read
# as anything but text.
_BASE_PATH = re.compile(r"/(?:[A-Za-z0-9._~-]+/)*")
FILES = {  # URL path below the base path -> (file in static/, content type); nothing else
    "": ("index.html", "text/html; charset=utf-8"),  # is ever read from disk
    "dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}
SECURITY_HEADERS = {
    # Everything the page needs comes from this server; no inline script, no frames.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
DASK_PAGES = (  # the standard pages of the Dask dashboard, in the order they are useful here
    ("Status", "status"), ("Workers", "workers"), ("Task stream", "individual-task-stream"),
    ("Tasks", "tasks"), ("System", "system"), ("Profile", "profile"), ("Graph", "graph"),
    ("Info (logs, worker details)", "info/main/workers.html"),
)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def dashboard_host(environ: dict[str, str] | None = None) -> str:
    """Address to bind: ``$MESOSWEEP_DASHBOARD_HOST`` if it is an address or host name, else
    127.0.0.1."""
    env = os.environ if environ is None else environ
    host = env.get("MESOSWEEP_DASHBOARD_HOST", "").strip()
    if not host:
        return DEFAULT_HOST
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host if _HOSTNAME.fullmatch(host) else DEFAULT_HOST


def base_path(value: str | None = None, environ: dict[str, str] | None = None) -> str:
    """The URL path the page is served under: ``value``, else
    ``$MESOSWEEP_DASHBOARD_BASE_PATH``, else ``/``; always with a leading and a trailing
    slash. Raises ValueError for anything but plain path segments."""
    env = os.environ if environ is None else environ
    text = (value if value is not None else env.get("MESOSWEEP_DASHBOARD_BASE_PATH", "")).strip()
    if not text:
        return "/"
    path = "/" + text.strip("/") + "/" if text.strip("/") else "/"
    if not _BASE_PATH.fullmatch(path) or "/../" in path or "/./" in path:
        raise ValueError(f"base path {text!r} must be URL path segments of letters, digits "
                         "and . _ ~ -, such as /node/login1/8765/")
    return path


def allowed_hosts(value: str | None = None,
                  environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """Host names the page answers to besides the loopback ones: ``value`` (comma-separated),
    else ``$MESOSWEEP_DASHBOARD_ALLOWED_HOSTS``. Raises ValueError for a name that is not one
    (a port, a scheme or a path included)."""
    env = os.environ if environ is None else environ
    text = value if value is not None else env.get("MESOSWEEP_DASHBOARD_ALLOWED_HOSTS", "")
    hosts = []
    for name in (h.strip().lower() for h in text.split(",")):
        if not name:
            continue
        try:
            hosts.append(str(ipaddress.ip_address(name.strip("[]"))))
        except ValueError:
            if not _HOSTNAME.fullmatch(name):
                raise ValueError(f"allowed host {name!r} is not a host name (give the name "
                                 "alone: no scheme, port or path)") from None
            hosts.append(name)
    return tuple(hosts)


def dashboard_port(environ: dict[str, str] | None = None) -> int | None:
    """Port from ``$MESOSWEEP_DASHBOARD_PORT`` (0: any free port); None for ``off``."""
    env = os.environ if environ is None else environ
    value = env.get("MESOSWEEP_DASHBOARD_PORT", "").strip().lower()
    if value in ("off", "no", "false", "none"):
        return None
    if value.isdigit() and int(value) <= 65535:
        return int(value)
    return 0


def dask_pages(link: str | None) -> list[dict[str, str]]:
    """Links to the standard Dask pages, from the cluster's dashboard link (``…/status``)."""
    if not link:
        return []
    base = link.split("?", 1)[0].rstrip("/")
    if base.endswith("/status"):
        base = base[: -len("/status")]
    return [{"name": name, "url": f"{base}/{path}"} for name, path in DASK_PAGES]


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class LivePage:
    """The page for one store, on a background thread. ``start()``, then ``stop()``."""

    def __init__(self, store: str | os.PathLike[str], dask_link: str | None = None,
                 host: str = DEFAULT_HOST, port: int = 0,
                 refresh_s: float = DEFAULT_REFRESH_S, served_by: str = "",
                 base_path: str = "/", allowed_hosts: tuple[str, ...] = ()) -> None:
        self.store = Path(store)
        self.dask_link = dask_link
        self.host = host
        self.base_path = base_path
        self.allowed_hosts = tuple(allowed_hosts)
        self.refresh_s = refresh_s
        self.served_by = served_by or "mesosweep status --serve"
        self._requested_port = port
        self.port = 0
        self._lock = threading.Lock()
        self._cache: tuple[float, dict[str, Any]] | None = None
        self._read_s = 0.0  # how long the last read of the store took
        self._last_good: dict[str, Any] | None = None
        self._final_at: float | None = None
        # client id -> (time of its last answered poll, its interval, whether that answer
        # was the final state)
        self._polls: dict[str, tuple[float, float, bool]] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.port}{self.base_path}"

    # --- data ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The status dict plus what the page needs; cached (``CACHE_S``, ``READ_SHARE``).

        Never raises: if the store cannot be read right now, the last good status is served
        with ``stale`` set and the reason, so the page says so instead of going blank.
        """
        with self._lock:
            now = time.monotonic()
            if (self._cache is not None
                    and now - self._cache[0] < max(CACHE_S, READ_SHARE * self._read_s)):
                return self._cache[1]
            try:
                data = read_status(self.store)
                self._read_s = time.monotonic() - now
                data["stale"], data["read_error"] = False, None
                self._last_good = data
            except Exception as exc:  # noqa: BLE001 - reported on the page, never fatal
                data = dict(self._last_good or {})
                data["stale"] = True
                data["read_error"] = f"{type(exc).__name__}: {exc}"[:300]
            data["page"] = {
                "refresh_s": self.refresh_s,
                "final": self._final_at is not None,
                "served_by": self.served_by,
                "dask_dashboard": self.dask_link,
                "dask_pages": dask_pages(self.dask_link),
            }
            self._cache = (now, data)
            return data

    def note_poll(self, client: str | None, interval: float, got_final: bool) -> None:
        """Remember that page ``client`` was just answered (for the final drain)."""
        if not client or not _CLIENT_ID.fullmatch(client):
            return
        with self._lock:
            self._polls[client] = (time.time(), interval, got_final)
            if len(self._polls) > MAX_CLIENTS:
                oldest = min(self._polls, key=lambda k: self._polls[k][0])
                del self._polls[oldest]

    # --- server -------------------------------------------------------------------------

    def _app(self) -> tornado.web.Application:
        page = self
        # DNS-rebinding guard: a loopback page answers only to loopback host names and the
        # hosts allowed (a proxy's), so a web site in the user's browser cannot read it by
        # renaming itself. A page bound elsewhere on purpose answers to any name, unless
        # hosts were named.
        names = LOOPBACK_NAMES | set(self.allowed_hosts) | {self.host}
        guard = is_loopback(self.host) or bool(self.allowed_hosts)

        class Base(tornado.web.RequestHandler):
            def prepare(self) -> None:
                if guard and self.request.host_name.lower() not in names:
                    raise tornado.web.HTTPError(403)

            def set_default_headers(self) -> None:
                for key, value in SECURITY_HEADERS.items():
                    self.set_header(key, value)

        class File(Base):
            def initialize(self, name: str, content_type: str) -> None:
                self.name, self.content_type = name, content_type

            def get(self) -> None:
                self.set_header("Content-Type", self.content_type)
                self.write(resources.files(__package__).joinpath("static", self.name)
                           .read_bytes())

        class Status(Base):
            async def get(self) -> None:
                try:
                    interval = float(self.get_query_argument("refresh", str(page.refresh_s)))
                except ValueError:
                    interval = page.refresh_s
                interval = interval if math.isfinite(interval) else page.refresh_s
                loop = asyncio.get_running_loop()
                data = await loop.run_in_executor(None, page.snapshot)
                self.set_header("Content-Type", "application/json")
                # Noted once the answer is sent: the final drain ends only when each watching
                # page has *received* the final state, not merely asked for it.
                await self.finish(json.dumps(data, allow_nan=False, default=str))
                page.note_poll(self.get_query_argument("client", None), interval,
                               data["page"]["final"])

        class ToBase(Base):
            def get(self) -> None:  # the page's relative links need the trailing slash
                self.redirect(page.base_path, permanent=False)

        root = re.escape(self.base_path)
        routes: list[Any] = [(root + re.escape(path), File, {"name": name, "content_type": kind})
                             for path, (name, kind) in FILES.items()]
        routes.append((root + r"api/status", Status))
        if self.base_path != "/":
            routes.append((re.escape(self.base_path.rstrip("/")), ToBase))
        # No access log: the driver's output is the sweep's progress, not HTTP requests.
        return tornado.web.Application(routes, log_function=lambda handler: None)

    def start(self) -> LivePage:
        """Bind (errors raise here, in the caller) and serve on a daemon thread."""
        sockets = tornado.netutil.bind_sockets(self._requested_port, address=self.host)
        self.port = sockets[0].getsockname()[1]
        self._thread = threading.Thread(target=self._serve, args=(sockets,),
                                        name="mesosweep-live-page", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def _serve(self, sockets: list[socket.socket]) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            server = tornado.httpserver.HTTPServer(self._app())
            server.add_sockets(sockets)
            self._ready.set()
            await self._stopping.wait()
            server.stop()
            await server.close_all_connections()

        asyncio.run(main())

    def _drain(self) -> None:
        """Give pages that were watching the chance to fetch the final state, briefly.

        Without this, a sweep that ends between two polls leaves every open page showing its
        last "running" state. Pages that polled recently are waited for until each has polled
        once more; no pages, no wait; never longer than ``DRAIN_MAX_S``.
        """
        with self._lock:
            self._final_at = time.time()
            self._cache = None
        final_at = self._final_at
        start = time.monotonic()
        while True:
            with self._lock:
                waiting = [every for t, every, got_final in self._polls.values()
                           if t >= final_at - (2 * every + 2) and not got_final]
            # Each page polls again within its own interval (plus a second for the request).
            if not waiting or time.monotonic() - start >= min(max(waiting) + 1, DRAIN_MAX_S):
                return
            time.sleep(0.05)

    def stop(self, drain: bool = True) -> None:
        """Stop serving (after the final drain, unless ``drain`` is false). Idempotent."""
        if self._thread is None:
            return
        if drain:
            self._drain()
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> LivePage:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _NoPage:
    """Stands in for a page that is off or could not start, so its owner just calls stop()."""

    url = ""

    def stop(self, drain: bool = True) -> None:
        """Nothing to stop."""


def tunnel_command(ports: list[tuple[int, str, int]], user: str | None = None,
                   host: str | None = None) -> str:
    """``ssh -N -L …`` that forwards each (local port, remote host, remote port) here."""
    user = user or getpass.getuser()
    if not host:
        host = socket.getfqdn()
        if host.startswith("localhost"):  # no DNS name: the host name is what ssh will know
            host = socket.gethostname()
    forwards = " ".join(f"-L {local}:{_url_host(rhost)}:{rport}" for local, rhost, rport in ports)
    return f"ssh -N {forwards} {user}@{host}"


def access_lines(page: LivePage) -> list[str]:
    """The page's URL and the SSH tunnel that reaches it (and Dask's) from a laptop."""
    ports = [(page.port, "127.0.0.1" if is_loopback(page.host) else page.host, page.port)]
    if page.dask_link:
        dask = urlsplit(page.dask_link)
        if dask.port:
            ports.append((dask.port, dask.hostname or "127.0.0.1", dask.port))
    lines = [f"live page: {page.url}  (status of {page.store} per case and stage; "
             "docs/dashboard.md)",
             f"  from your own machine: {tunnel_command(ports)}",
             f"  then open http://localhost:{page.port}{page.base_path}"]
    if page.base_path != "/" or page.allowed_hosts:
        lines.append(f"  behind a proxy: its address for port {page.port}"
                     + (f" (served under {page.base_path})" if page.base_path != "/" else "")
                     + (f"; answers to {', '.join(page.allowed_hosts)}"
                        if page.allowed_hosts else ""))
    if not is_loopback(page.host):
        lines.append(f"  warning: bound to {page.host}: anyone who reaches this host can read "
                     "the page (failure logs included); the tunnel above needs no such exposure")
    return lines


def start_live_page(store: str | os.PathLike[str], dask_link: str | None) -> LivePage | _NoPage:
    """Start the page for the driver of a sweep and log how to reach it.

    Never raises: a sweep that runs for days must not fail because a port was taken.
    """
    port = dashboard_port()
    if port is None:
        LOG.info("live page: off (MESOSWEEP_DASHBOARD_PORT=off)")
        return _NoPage()
    try:
        page = LivePage(store, dask_link, host=dashboard_host(), port=port,
                        served_by="mesosweep run", base_path=base_path(),
                        allowed_hosts=allowed_hosts()).start()
    except ValueError as exc:
        LOG.warning("live page: not started (MESOSWEEP_DASHBOARD_*: %s); `mesosweep status "
                    "%s --watch` shows the same", exc, store)
        return _NoPage()
    except OSError as exc:
        LOG.warning("live page: not started (%s); `mesosweep status %s --watch` shows the "
                    "same", exc.strerror or exc, store)
        return _NoPage()
    LOG.info("%s", "\n".join(access_lines(page)))
    return page


class LivePageSubscriber:
    """Shows the live page while a sweep runs: subscribe it to the runner's events.

    It starts the page (and logs how to reach it) when the sweep starts, and stops it when the
    sweep ends, after open pages had the chance to fetch the final state.
    """

    def __init__(self) -> None:
        self.page: LivePage | _NoPage = _NoPage()

    def __call__(self, event: Event) -> None:
        if isinstance(event, SweepStarted):
            self.page = start_live_page(event.store, event.dask_dashboard)
        elif isinstance(event, SweepFinished):
            self.page.stop()  # lets open pages fetch the final state first (a few seconds)
            self.page = _NoPage()
