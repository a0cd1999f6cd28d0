"""The job queue and the worker pool: order, dependencies, caps under concurrent requests, at
most ``workers`` processes at once, cancel, corrupt entries, and a pool killed mid-queue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from genzoo.registry.errors import BadConfig, NotFound
from genzoo.registry.jobs import JobQueue, QueueFull
from genzoo.registry.pool import TRAINER_NICENESS, PoolBusy, WorkerPool, pool_lock, pool_running
from genzoo.registry.requests import TrainRequest
from genzoo.registry.store import RunStore

REQUEST = TrainRequest("independent", "digits", steps=0)
TINY = {"hidden": "8", "layers": "1", "batch_size": "16"}


def wait_for(condition, what: str, timeout: float = 120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def sleeper(seconds: float = 0.3):
    """A stand-in for a trainer: sleeps, then exits 0 (the pool's bookkeeping is under test)."""
    def command(store, job):
        return [sys.executable, "-c", f"import time; time.sleep({seconds})"]
    return command


def test_jobs_are_taken_in_order_and_wait_for_the_job_they_follow():
    queue = JobQueue(RunStore())
    first = queue.submit(REQUEST, run_id="a")
    second = queue.submit(REQUEST, run_id="b", after=first.job_id)
    third = queue.submit(REQUEST, run_id="c")
    worker = {"pid": os.getpid(), "host": "here", "started": None}
    assert queue.claim(worker).job_id == first.job_id
    # the second waits for the first: the third goes ahead of it
    assert queue.claim(worker).job_id == third.job_id
    assert queue.claim(worker) is None
    queue.finish(first.job_id, "completed")
    assert queue.claim(worker).job_id == second.job_id
    assert queue.get(second.job_id).attempts == 1


def test_a_job_behind_a_failed_one_fails_with_it_naming_it():
    queue = JobQueue(RunStore())
    parent = queue.submit(REQUEST, run_id="p")
    child = queue.submit(REQUEST, run_id="c", after=parent.job_id)
    queue.claim({"pid": 1})
    queue.finish(parent.job_id, "failed", "diverged")
    assert queue.claim({"pid": 1}) is None
    job = queue.get(child.job_id)
    assert job.status == "failed" and f"job #{parent.job_id}" in job.message


def test_a_corrupt_entry_is_reported_and_skipped_without_blocking_the_others():
    store = RunStore()
    queue = JobQueue(store)
    bad = queue.submit(REQUEST, run_id="bad")
    good = queue.submit(REQUEST, run_id="good")
    with store._connect() as db:
        db.execute("UPDATE jobs SET request = '{not json' WHERE job_id = ?", (bad.job_id,))
    listed = {j.job_id: j for j in queue.list()}
    assert listed[bad.job_id].request is None and "corrupt" in listed[bad.job_id].message
    assert queue.claim({"pid": 1}).job_id == good.job_id
    assert queue.get(bad.job_id).status == "failed"
    assert "corrupt queue entry" in queue.get(bad.job_id).message


def test_caps_hold_for_twenty_requests_from_several_sessions_at_once():
    """Counted and inserted in one transaction: no request slips past a cap, and every one
    ends queued or refused with a message."""
    store = RunStore()
    results = []

    def ask(session: str):
        queue = JobQueue(store)  # a connection of its own, as each page run has
        try:
            job = queue.submit(REQUEST, owner=session, max_open_per_owner=2, max_open=7)
            results.append(("queued", session, job.job_id))
        except QueueFull as exc:
            results.append(("refused", session, str(exc)))

    threads = [threading.Thread(target=ask, args=(f"web-{i % 5}",)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 20
    queued = [r for r in results if r[0] == "queued"]
    assert len(queued) == 7  # the queue's cap; five sessions could have held ten
    for session in {r[1] for r in queued}:
        assert sum(r[1] == session for r in queued) <= 2
    assert all("at most" in r[2] for r in results if r[0] == "refused")
    assert len(JobQueue(store).list()) == 7


def test_the_pool_never_runs_more_than_its_workers_and_finishes_every_job():
    store = RunStore()
    queue = JobQueue(store)
    jobs = [queue.submit(REQUEST, owner=f"web-{i % 4}", run_id=f"r{i}") for i in range(20)]
    pool = WorkerPool(store, 2, command=sleeper(0.2), poll_seconds=0.05)
    peak = []
    pool.run(until=lambda: not queue.list(statuses=("queued", "running")),
             on_tick=lambda p: peak.append(len(p.running)))
    done = [queue.get(j.job_id) for j in jobs]
    assert all(j.status == "completed" for j in done)
    assert max(peak) == 2
    # and from the records alone: no moment had more than two jobs between start and finish
    edges = sorted([(j.started_at, 1) for j in done] + [(j.finished_at, -1) for j in done],
                   key=lambda e: (e[0], e[1]))
    running = most = 0
    for _, change in edges:
        running += change
        most = max(most, running)
    assert most <= 2


def test_one_pool_per_store():
    store = RunStore()
    with pool_lock(store):
        assert pool_running(store)
        with pytest.raises(PoolBusy, match="already serves"):
            WorkerPool(store, 1).run(idle_exit=0)
    assert not pool_running(store)


def test_cancel_a_queued_job_at_once_and_only_by_its_owner():
    queue = JobQueue(RunStore())
    job = queue.submit(REQUEST, owner="web-a", run_id="mine")
    with pytest.raises(BadConfig, match="only the session that queued it"):
        queue.cancel(job.job_id, owner="web-b")
    assert "before it started" in queue.cancel(f"#{job.job_id}", owner="web-a")
    assert queue.get(job.job_id).status == "cancelled"
    with pytest.raises(NotFound, match="genzoo jobs"):
        queue.cancel("no-such-run")


def test_a_failing_trainer_fails_its_job_with_its_one_line_error():
    store = RunStore()
    queue = JobQueue(store)
    job = queue.submit(TrainRequest("pixelcnn", "digits", steps=1, config={"hidden": "-3"}),
                       run_id="bad-config")

    def command(store, job):
        return [sys.executable, "-c", "import sys; print('error: --set hidden=-3: must be "
                "positive', file=sys.stderr); sys.exit(2)"]

    WorkerPool(store, 1, command=command, poll_seconds=0.05).run(
        until=lambda: not queue.list(statuses=("queued", "running")))
    done = queue.get(job.job_id)
    assert done.status == "failed" and done.message == "--set hidden=-3: must be positive"


def _env(home) -> dict:
    return {**os.environ, "GENZOO_HOME": str(home), "GENZOO_PLUGINS": "",
            "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.mark.slow
def test_a_pool_killed_mid_queue_and_started_again_finishes_every_job(isolated_home):
    """SIGKILL the pool while a trainer runs: the kernel sends that trainer SIGTERM (it
    checkpoints), and the next pool takes its job up again and resumes the run."""
    store = RunStore()
    queue = JobQueue(store)
    # long enough that it is still training when the pool is killed, however slowly this
    # process notices its first step on a loaded machine (6 s was not, under a full suite)
    long = queue.submit(TrainRequest("pixelcnn", "digits", seconds=20.0, config=TINY),
                        run_id="long")
    rest = [queue.submit(TrainRequest("pixelcnn", "digits", steps=3, config=TINY, seed=i),
                         run_id=f"short-{i}") for i in range(2)]
    cli = [sys.executable, "-m", "genzoo.registry.cli", "worker", "--workers", "1"]
    pool = subprocess.Popen(cli, env=_env(isolated_home), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: store.list_runs() and store.get("long").step > 0
                 if store.list_runs() else False, "the long run's first checkpoint")
    finally:
        pool.send_signal(signal.SIGKILL)
        pool.wait()
    assert queue.get(long.job_id).status == "running"  # its worker is gone: nobody has noticed
    wait_for(lambda: store.get("long").status != "running", "the orphaned trainer to stop")
    assert store.get("long").status == "cancelled"  # it saved a checkpoint on SIGTERM
    again = subprocess.run(cli[:-1] + ["2", "--idle-exit", "0.5"], env=_env(isolated_home),
                           capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stderr
    assert "its worker had died" in again.stderr
    for job in [long, *rest]:
        assert queue.get(job.job_id).status == "completed", queue.get(job.job_id).message
    assert store.get("long").status == "completed"
    assert "resume long" in queue.log_path(long).read_text()
    assert store.get("long").train_seconds >= 6.0


@pytest.mark.slow
def test_cancel_a_running_job_stops_its_trainer_with_a_checkpoint(isolated_home):
    store = RunStore()
    queue = JobQueue(store)
    job = queue.submit(TrainRequest("pixelcnn", "digits", seconds=120.0, config=TINY),
                       run_id="to-cancel")
    pool = WorkerPool(store, 1, poll_seconds=0.1)
    thread = threading.Thread(target=pool.run, kwargs={
        "until": lambda: not queue.list(statuses=("queued", "running"))})
    os.environ["GENZOO_PLUGINS"] = ""
    try:
        thread.start()
        wait_for(lambda: store.list_runs() and store.get("to-cancel").step > 0
                 if store.list_runs() else False, "the first checkpoint")
        # queued training yields the CPU to pages and terminals
        trainer = pool.running[job.job_id].process.pid
        assert os.getpriority(os.PRIO_PROCESS, trainer) == min(
            19, os.getpriority(os.PRIO_PROCESS, 0) + TRAINER_NICENESS)
        assert "asked job" in queue.cancel(job.job_id)
        thread.join(timeout=60)
    finally:
        os.environ.pop("GENZOO_PLUGINS", None)
    assert queue.get(job.job_id).status == "cancelled"
    assert store.get("to-cancel").status == "cancelled"
    assert json.loads(json.dumps(queue.get(job.job_id).to_json()))["cancel_asked"]


def test_the_dashboard_serves_without_waiting_for_the_demo_check(monkeypatch):
    """Checking the stored demo runs takes seconds: `genzoo dashboard` leaves it to the pool
    process it starts and goes on to serve."""
    from genzoo.registry import demo, pool

    from cli_helpers import run

    started, served = [], []
    monkeypatch.setattr(demo, "queue_demo", lambda *a, **k: pytest.fail("checked in the way"))
    monkeypatch.setattr(pool, "start_pool_process", lambda store, workers=None, **options:
                        started.append(options))
    monkeypatch.setattr(os, "execvpe", lambda exe, argv, env: served.append(argv))
    run("dashboard", "--port", "8599")
    assert started == [{"idle_exit": 300.0, "queue_demo": True}] and len(served) == 1
    started.clear()
    run("dashboard", "--port", "8599", "--no-demo")  # nothing queued: no pool at all
    assert started == []


def test_the_demo_queueing_pool_exits_when_there_is_nothing_to_train(monkeypatch):
    from genzoo.registry import demo

    from cli_helpers import run

    calls = []
    monkeypatch.setattr(demo, "queue_demo",
                        lambda registry, store, log: calls.append(store) or (["demo-x"], []))
    result = run("worker", "--queue-demo")
    assert len(calls) == 1 and "[demo] 0 jobs queued in demo-x" in result.stderr
    assert "worker pool on" not in result.stderr
