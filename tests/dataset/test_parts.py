"""The parts of generate() one by one (plan, execute, record), the retries of an item
counted by the server that received them, and what the manifest says was served."""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal

import numpy as np
import pytest
import soundfile as sf

import ttskit
from ttskit import audio, dataset
from ttskit.dataset.execute import execute
from ttskit.dataset.ids import item_id
from ttskit.dataset.layout import Layout
from ttskit.dataset.plan import RunPlan, plan_run
from ttskit.dataset.record import Writer
from ttskit.dataset.worker import ClientSpec, Job, Outcome, make_item, speak
from ttskit.errors import InvalidArgument, ServiceUnavailableError, StreamInterrupted
from ttskit.server import Faults

from ..client.replay_server import Answer, ReplayServer
from ..conftest import HOSTED_MODEL
from .conftest import TEXTS, VOICES, options


def job(text: str = TEXTS[0], **fields) -> Job:
    return Job(item_id="0123456789abcdef", text=text, voice="en-us", model="espeak", **fields)


# --- plan ------------------------------------------------------------------------------


def test_plan_run_plans_every_text_with_every_voice(client):
    run = plan_run(TEXTS[:3], VOICES, client=client, workers=2, retries=1)
    assert isinstance(run, RunPlan) and run.source is client and run.model == "espeak"
    assert len(run.plans) == 6 and run.voices == VOICES
    assert {(p.job.text, p.job.voice) for p in run.plans} == {
        (t, v) for t in TEXTS[:3] for v in VOICES
    }
    assert {p.job.retries for p in run.plans} == {1}
    assert run.options["format"] == "flac" and run.metrics == ()


def test_plan_run_gives_other_processes_a_client_spec(client):
    with cf.ProcessPoolExecutor(max_workers=1) as pool:
        run = plan_run(TEXTS[:1], "en-us", client=client, executor=pool)
    assert isinstance(run.source, ClientSpec) and run.source.endpoint == client.endpoint


def test_plan_run_refuses_bad_arguments_before_any_request(tmp_path):
    for bad in ({"format": "aiff"}, {"retries": -1}, {"workers": 0}, {"loudness": 3}):
        with pytest.raises(InvalidArgument):
            plan_run(TEXTS, "en-us", client=object(), **bad)
    with pytest.raises(InvalidArgument, match="quality=True"):
        plan_run(TEXTS, "en-us", client=object(), asr="tiny.en")


# --- execute ---------------------------------------------------------------------------


def test_execute_hands_every_outcome_to_commit(client):
    run = plan_run(TEXTS[:3], ["en-us"], client=client, workers=2)
    made: list[tuple[str, Outcome]] = []
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        interrupted = execute(
            run.plans,
            run.source,
            lambda plan, outcome: made.append((plan.job.text, outcome)),
            executor=pool,
            workers=2,
            progress=False,
        )
    assert not interrupted
    assert sorted(text for text, _ in made) == sorted(TEXTS[:3])
    assert all(outcome.ok and outcome.data and outcome.attempts == 1 for _, outcome in made)


class Refusing(cf.Executor):
    """An executor that fails every item it is given, as a broken pool does."""

    def submit(self, fn, /, *args, **kwargs):
        future: cf.Future = cf.Future()
        future.set_exception(RuntimeError("the pool is broken"))
        return future


def test_execute_records_an_executor_failure_as_the_items_and_stops_on_ctrl_c(client):
    run = plan_run(TEXTS, ["en-us"], client=client, workers=1)
    made: list[Outcome] = []
    assert not execute(
        run.plans, run.source, lambda _, o: made.append(o), executor=Refusing(), progress=False
    )
    assert len(made) == len(TEXTS)
    assert {o.error for o in made} == {"RuntimeError: the pool is broken"}

    committed: list[Outcome] = []

    def interrupt(plan, outcome):
        committed.append(outcome)
        raise KeyboardInterrupt

    assert execute(run.plans, run.source, interrupt, workers=1, progress=False)
    assert len(committed) == 1


def test_a_real_ctrl_c_stops_the_run_after_what_it_was_committing(client):
    # The signal sets the run's stop instead of raising wherever the main thread is (which
    # could be inside the executor's locks); the item being committed is committed whole.
    run = plan_run(TEXTS, ["en-us"], client=client, workers=1)
    committed: list[Outcome] = []

    def ctrl_c_while_committing(plan, outcome):
        if not committed:
            os.kill(os.getpid(), signal.SIGINT)
        committed.append(outcome)

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert execute(run.plans, run.source, ctrl_c_while_committing, workers=1, progress=False)
    assert 1 <= len(committed) < len(TEXTS) and all(o.ok for o in committed)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# --- record ----------------------------------------------------------------------------


def test_writer_records_outcomes_and_resumes_from_them(client, tmp_path):
    run = plan_run(TEXTS[:2], ["en-us"], client=client)
    layout = Layout(tmp_path / "ds")
    layout.prepare(settings={"splits": None})
    writer = Writer(layout, run)
    first, second = writer.pending()
    writer.commit(first, make_item(client, first.job))
    writer.commit(second, Outcome(second.job.item_id, row={}, error="ReadError: cut", attempts=4))
    writer.close(interrupted=False)
    table = writer.manifest()
    assert list(table["status"]) == ["ok", "failed"] and list(table["attempts"]) == [1, 4]
    assert sf.info(table["path"].iloc[0]).format == "FLAC"
    summary = table.attrs["summary"]
    assert (summary.made, summary.failed, summary.failures) == (1, 1, {"ReadError": 1})

    again = Writer(layout, run)
    assert [p.job.item_id for p in again.pending()] == [second.job.item_id]
    assert again.summary.done_before == 1


# --- retries: one layer ----------------------------------------------------------------


def test_a_503_costs_at_most_retries_plus_one_requests(counting_server, tmp_path):
    server, counting = counting_server(
        faults=Faults(error_rate=1.0, error_status=503, retry_after=0)
    )
    # The client's own two retries are not stacked under the item's three.
    client = ttskit.Client(server.base_url, model="espeak", max_retries=2)
    table = dataset.generate(
        TEXTS[:2], ["en-us"], tmp_path / "ds", client=client, **options(retries=3)
    )
    assert (table["status"] == "failed").all()
    assert table["error"].str.startswith("ServiceUnavailableError").all()
    assert dict(counting.counts) == {TEXTS[0]: 4, TEXTS[1]: 4}
    assert list(table["attempts"]) == [4, 4]

    with pytest.raises(ServiceUnavailableError) as raised:
        speak(client, job(TEXTS[2], retries=0))
    assert raised.value.attempts == 1 and counting.counts[TEXTS[2]] == 1


def test_a_flaky_server_is_retried_within_the_bound(counting_server, tmp_path):
    server, counting = counting_server(
        faults=Faults(error_rate=0.5, error_status=503, retry_after=0, seed=7)
    )
    spec = dataset.ClientSpec(server.base_url, max_retries=0)
    table = dataset.generate(
        TEXTS, ["en-us"], tmp_path / "ds", client=spec, model="espeak", **options(retries=12)
    )
    assert (table["status"] == "ok").all()
    assert max(counting.counts.values()) > 1 and max(counting.counts.values()) <= 13
    assert set(counting.counts) == set(TEXTS)
    # Each item's attempts are the requests it took, the client's retries included.
    assert dict(zip(table["text"], table["attempts"], strict=True)) == dict(counting.counts)


def test_a_cut_stream_is_retried_by_the_worker_within_the_bound(counting_server, tmp_path):
    server, counting = counting_server()
    cutting = ttskit.Client(
        server.base_url, model="espeak", max_retries=5, headers={"x-ttskit-faults": "cut_after=1"}
    )
    with pytest.raises(StreamInterrupted) as raised:
        speak(cutting, job(retries=2, retry_backoff=0.0))
    assert raised.value.attempts == 3 and counting.counts[TEXTS[0]] == 3

    outcome = make_item(cutting, job(TEXTS[1], retries=1, retry_backoff=0.0))
    assert outcome.error.startswith("StreamInterrupted") and outcome.attempts == 2
    assert counting.counts[TEXTS[1]] == 2

    healthy = ttskit.Client(server.base_url, model="espeak")
    speech, attempts = speak(healthy, job(TEXTS[2]))
    assert attempts == 1 and speech.duration > 0.5 and counting.counts[TEXTS[2]] == 1


def _refusals_then_a_cut(replay: ReplayServer) -> None:
    busy = b'{"error": {"message": "busy", "type": "server_error", "code": "overloaded"}}'
    refused = Answer([busy], status=503, content_type="application/json", chunked=False)
    wav = audio.wav_bytes(np.zeros(4800, np.float32), sample_rate=24000)
    replay.answers += [refused, refused, Answer([wav[:3000]], content_type="audio/wav", cut=True)]
    replay.answers += [refused, Answer([wav], content_type="audio/wav", chunked=False)]


def test_a_cut_after_the_clients_retries_counts_them_all(tmp_path):
    replay = ReplayServer()
    try:
        _refusals_then_a_cut(replay)
        client = ttskit.Client(replay.base_url, sleep=lambda _: None)
        speech, attempts = speak(client, job(retries=5, retry_backoff=0.0))
        assert speech.duration == pytest.approx(0.2)
        assert attempts == len(replay.received) == 5

        # The same with a budget of two further requests: the cut spends it.
        replay.received.clear()
        replay.answers.clear()
        _refusals_then_a_cut(replay)
        with pytest.raises(StreamInterrupted) as raised:
            speak(client, job(retries=2, retry_backoff=0.0))
        assert raised.value.attempts == len(replay.received) == 3
    finally:
        replay.close()


# --- what was served -------------------------------------------------------------------


def test_the_manifest_says_which_voice_the_server_used(espeak_server, tmp_path):
    client = ttskit.Client(espeak_server.base_url)
    out = tmp_path / "ds"
    table = dataset.generate(
        ["Hello there."], "tara", out, client=client, model=HOSTED_MODEL, **options()
    )
    row = table.iloc[0]
    assert row["status"] == "ok"
    assert (row["requested_model"], row["requested_voice"]) == (HOSTED_MODEL, "tara")
    assert row["model"] == "espeak" and row["voice"] not in ("", "tara")
    # The id is the requested item's, so that a rerun finds it done.
    params = {
        k: v
        for k, v in plan_run(
            ["Hello there."], "tara", client=client, model=HOSTED_MODEL
        ).options.items()
        if k not in ("retries", "retry_backoff")
    }
    assert row["id"] == item_id("Hello there.", "tara", HOSTED_MODEL, params)
    again = dataset.generate(
        ["Hello there."], "tara", out, client=client, model=HOSTED_MODEL, **options()
    )
    assert again.attrs["summary"].done_before == 1
    assert dataset.load(out)[["voice", "requested_voice"]].values.tolist() == [
        [row["voice"], "tara"]
    ]


def test_a_voice_an_engine_model_does_not_list_is_still_refused(client, tmp_path):
    with pytest.raises(InvalidArgument, match="'tara' is not a voice of model 'espeak'"):
        dataset.generate(["Hi."], "tara", tmp_path / "ds", client=client, **options())
