"""JobQueue: states, order, cancel and the signals the views listen to (no engine, no widgets)."""

from __future__ import annotations

from app.jobs import JobQueue, JobRequest, JobState


def _queue_of(count: int) -> tuple[JobQueue, list]:
    queue = JobQueue()
    jobs = [queue.add(JobRequest(prompt=f"prompt {i}", width=256, height=256)) for i in range(count)]
    return queue, jobs


def test_jobs_run_in_order_and_report_each_state(qtbot):
    queue, jobs = _queue_of(2)
    events: list[tuple[str, str]] = []
    queue.job_started.connect(lambda job: events.append(("started", job.id)))
    queue.job_finished.connect(lambda job: events.append((job.state.value, job.id)))

    assert queue.next_job() is jobs[0]
    queue.notify_started(jobs[0].id)
    assert queue.running() is jobs[0] and queue.next_job() is jobs[1]
    queue.notify_progress(jobs[0].id, 0, 5, 10, 1.5)
    assert jobs[0].progress == 0.5 and jobs[0].eta_s == 1.5
    queue.notify_done(jobs[0].id, [7], [42], ["note"])
    queue.notify_started(jobs[1].id)
    queue.notify_failed(jobs[1].id, "out of memory")

    assert events == [("started", jobs[0].id), ("done", jobs[0].id), ("started", jobs[1].id),
                      ("failed", jobs[1].id)]
    assert jobs[0].record_ids == [7] and jobs[0].seeds == [42] and jobs[0].progress == 1.0
    assert jobs[1].error == "out of memory"
    assert queue.next_job() is None and queue.running() is None


def test_cancelling_a_queued_job_is_immediate_and_a_running_one_asks_the_worker(qtbot):
    queue, jobs = _queue_of(3)
    asked: list[str] = []
    queue.cancel_requested.connect(asked.append)
    queue.notify_started(jobs[0].id)

    with qtbot.waitSignal(queue.job_finished) as finished:
        assert queue.cancel(jobs[1].id)
    assert finished.args[0] is jobs[1] and jobs[1].state is JobState.cancelled
    assert [job.id for job in queue.pending()] == [jobs[2].id]

    assert queue.cancel(jobs[0].id)
    assert asked == [jobs[0].id] and jobs[0].state is JobState.running  # the worker decides
    queue.notify_cancelled(jobs[0].id)
    assert jobs[0].state is JobState.cancelled
    assert not queue.cancel(jobs[0].id)  # finished jobs cannot be cancelled again


def test_reorder_moves_only_queued_jobs(qtbot):
    queue, jobs = _queue_of(4)
    queue.notify_started(jobs[0].id)

    def order() -> list[str]:
        return [job.id for job in queue]

    with qtbot.waitSignal(queue.order_changed):
        assert queue.move_down(jobs[1].id)
    assert order() == [jobs[0].id, jobs[2].id, jobs[1].id, jobs[3].id]
    assert queue.move_up(jobs[3].id)
    assert order() == [jobs[0].id, jobs[2].id, jobs[3].id, jobs[1].id]
    assert not queue.move_up(jobs[2].id)  # never ahead of the running job
    assert not queue.move_down(jobs[1].id)  # already last
    assert not queue.move_to(jobs[0].id, 3)  # the running job stays put
    assert queue.move_to(jobs[1].id, 1)
    assert queue.next_job() is jobs[1]


def test_finished_jobs_can_be_cleared(qtbot):
    queue, jobs = _queue_of(2)
    queue.cancel(jobs[0].id)
    counts: list[int] = []
    queue.count_changed.connect(lambda: counts.append(len(queue)))
    assert not queue.remove(jobs[1].id)  # still queued
    queue.clear_finished()
    assert [job.id for job in queue] == [jobs[1].id] and counts == [1]


def test_request_turns_into_engine_arguments_at_the_made_size():
    request = JobRequest(prompt="fox", width=300, height=200, steps=2, seed=5, style="Cinematic")
    kwargs = request.engine_kwargs((384, 256))
    assert kwargs["width"] == 384 and kwargs["height"] == 256 and kwargs["seed"] == 5
    assert "style" not in kwargs and "dpi" not in kwargs
