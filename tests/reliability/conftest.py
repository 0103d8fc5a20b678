"""Fault and abuse tests on real servers, and the table `make reliability` prints.

Each test takes the `reliability` fixture and says what fault or load it applied, what
happened and how many jobs were lost (must be 0). At the end of the run the table is printed;
with `--reliability-report PATH` it is also written there as Markdown (docs/reliability.md).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.reliability.cluster import Cluster, deploy
from tests.utils.services import service_env, wait_for

TINY_MODEL = "tiny"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reliability-report",
        default=None,
        metavar="PATH",
        help="write the reliability table (test, fault, outcome, jobs lost) to PATH as Markdown",
    )


@dataclass
class Row:
    test: str
    fault: str = ""
    outcome: str = ""
    jobs_lost: int | None = None
    seconds: float = 0.0
    passed: bool | None = None


class Recorder:
    """What one test reports for the table."""

    def __init__(self, row: Row) -> None:
        self.row = row

    def fault(self, text: str) -> None:
        self.row.fault = text

    def outcome(self, text: str, jobs_lost: int | None = None) -> None:
        self.row.outcome = text
        if jobs_lost is not None:
            self.row.jobs_lost = jobs_lost


_ROWS: dict[str, Row] = {}
_STARTED: list[float] = []  # when the first reliability test started (setup included)


@pytest.fixture(scope="session", autouse=True)
def _reliability_clock() -> None:
    _STARTED.append(time.monotonic())


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Recorder:
    name = request.node.name
    row = _ROWS.setdefault(request.node.nodeid, Row(test=name))
    return Recorder(row)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    row = _ROWS.get(item.nodeid)
    if row is not None:
        if report.when == "call":
            row.seconds = call.duration
            row.passed = report.passed
            if report.failed and not row.outcome.startswith("FAILED"):
                message = str(call.excinfo.value).splitlines()[0] if call.excinfo else ""
                row.outcome = f"FAILED: {message[:120]}" + (
                    f" ({row.outcome})" if row.outcome else ""
                )
            elif report.skipped:
                row.outcome = "skipped: " + str(report.longrepr[-1] if report.longrepr else "")
        elif report.failed and row.passed is None:
            row.passed = False
            row.outcome = f"ERROR in {report.when}"
    return report


def _table(rows: list[Row]) -> list[str]:
    header = ["test", "fault or load applied", "outcome", "jobs lost", "time (s)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lost = "—" if r.jobs_lost is None else str(r.jobs_lost)
        cells = [r.test, r.fault, r.outcome, lost, f"{r.seconds:.1f}"]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return lines


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    rows = list(_ROWS.values())
    if not rows:
        return
    total = time.monotonic() - (_STARTED[0] if _STARTED else time.monotonic())
    lost = sum(r.jobs_lost or 0 for r in rows)
    failed = [r for r in rows if r.passed is False]
    terminalreporter.section("reliability")
    for line in _table(rows):
        terminalreporter.write_line(line)
    terminalreporter.write_line(
        f"{len(rows)} test(s), {len(failed)} failed, jobs lost: {lost}, {total:.0f} s in all"
    )
    path = config.getoption("reliability_report", default=None)
    if not path:
        return
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    doc = [
        "# Reliability",
        "",
        "Fault and abuse tests run against real servers: `difflab serve`, `difflab worker`",
        "processes, SQLite, a Redis server and a PostgreSQL of the test's own, Chromium where",
        "a browser is the point. Each row is one test of `tests/reliability/`; `make",
        "reliability` runs them and rewrites this page. *Jobs lost* is counted by the ledger",
        "(`tests/utils/ledger.py`) over the ids the API accepted, recorded at submit: a job is",
        "lost unless it ended succeeded with every artifact whole, cancelled, or failed with a",
        "reason (`tests/integration/test_ledger.py` shows it counting deliberate losses).",
        "More fault tests in the production shape (Redis + PostgreSQL, two workers: the API",
        "killed, a worker killed mid-training) are in `tests/integration/test_jobs_redis_pg.py`.",
        "",
        f"Latest run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit or 'unknown'}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {total:.0f} s in all.",
        "",
        *_table(rows),
        "",
        f"**Jobs lost: {lost}.** Tests failed: {len(failed)} of {len(rows)}.",
        "",
    ]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(doc))
    terminalreporter.write_line(f"reliability report written to {path}")


# --- the shared deployment ----------------------------------------------------------------


def build_tiny_model(path: Path) -> subprocess.Popen[bytes]:
    """Build the tiny SD-1.x model in a subprocess (it overlaps with the server's start)."""
    code = (
        "import sys; from pathlib import Path; "
        "from difflab.diffusion.tiny import build_tiny_pipeline_dir; "
        "build_tiny_pipeline_dir(Path(sys.argv[1]), seed=0)"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def reliability_env(root: Path, **extra: str) -> dict[str, str]:
    """Fast failure detection; limits high enough that load tests measure the database."""
    return service_env(
        root / "var",
        DIFFLAB_MAX_QUEUED_PER_USER="1000",
        DIFFLAB_MAX_QUEUED_TOTAL="10000",
        DIFFLAB_REQUEUE_AFTER_S="3",
        **extra,
    )


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One server on SQLite + the embedded broker, the tiny model as `tiny`; tests choose
    their workers with `cluster.use_workers(n)`."""
    root = tmp_path_factory.mktemp("cluster")
    env = reliability_env(root)
    models = Path(env["DIFFLAB_MODELS_DIR"])
    models.mkdir(parents=True)
    builder = build_tiny_model(models / TINY_MODEL)
    c = deploy(env, root / "logs")
    try:
        wait_for(lambda: builder.poll() is not None, timeout=300, what="the tiny model")
        if builder.returncode != 0:
            err = builder.stderr.read().decode()[-2000:] if builder.stderr else ""
            raise RuntimeError(f"building the tiny model failed:\n{err}")
        yield c
    finally:
        if builder.poll() is None:
            builder.kill()
        c.stop()
