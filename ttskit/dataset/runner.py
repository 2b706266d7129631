"""``generate``: texts x voices into a dataset folder, resumable, on any executor."""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import functools
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import InvalidArgument
from .ids import check_splits
from .inputs import read_texts
from .layout import Layout, write_atomic
from .manifest import frame, ordered
from .plan import (
    Plan,
    check_options,
    clients_for,
    listed_voices,
    plan_items,
    require_module,
    resolve_model,
    resolve_voices,
)
from .quality import SCORED_AT, check_metrics, flag
from .scoring import score_missing, scoring_attrs, start_scoring, write_provenance
from .worker import ClientSpec, Outcome, make_item

__all__ = ["Summary", "die_with_parent", "generate", "process_pool"]


class _Stopped(Exception):
    """An interrupted run's retry that is not made."""


@dataclass
class Summary:
    """What a run did; ``generate`` puts it in ``manifest.attrs["summary"]``."""

    out: str
    texts: int = 0
    empty: int = 0
    duplicates: int = 0
    voices: int = 0
    items: int = 0
    done_before: int = 0
    made: int = 0
    failed: int = 0
    audio_seconds: float = 0.0
    elapsed_s: float = 0.0
    interrupted: bool = False
    failures: dict[str, int] = field(default_factory=dict)
    #: Items scored by ``ttskit.quality`` this run, and items flagged (with ``quality``).
    scored: int = 0
    flagged: int | None = None

    @property
    def done(self) -> int:
        return self.done_before + self.made

    def __str__(self) -> str:
        lines = [
            f"dataset {self.out}: {self.done} of {self.items} items done "
            f"({self.texts - self.empty - self.duplicates} texts x {self.voices} voices)",
            f"  this run: {self.made} made ({self.audio_seconds / 3600:.3f} h of audio) in "
            f"{self.elapsed_s:.1f} s, {self.failed} failed, {self.done_before} already there",
            f"  input: {self.texts} texts, {self.empty} empty skipped, "
            f"{self.duplicates} duplicates made once",
        ]
        if self.flagged is not None:
            lines.append(
                f"  quality: {self.scored} items scored this run, {self.flagged} of the "
                f"{self.done} flagged (see the issues column)"
            )
        for error, count in sorted(self.failures.items(), key=lambda kv: -kv[1])[:5]:
            lines.append(f"  failed x{count}: {error}")
        if self.interrupted or self.failed:
            lines.append("  run the same command again to resume: finished items are kept")
        return "\n".join(lines)


#: Items between two returns of freed memory to the OS (see ``_release_memory``).
RELEASE_EVERY = 256


def _malloc_trim() -> Callable[[], Any] | None:
    """glibc's ``malloc_trim``, or None on another C library."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return functools.partial(libc.malloc_trim, 0)
    except (OSError, AttributeError):
        return None


_release_memory = _malloc_trim()

#: Seconds between two looks of a worker at whether its parent is still there.
PARENT_POLL_S = 0.5
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """End this process when the process ``parent_pid`` (its parent) ends.

    The initializer of ``process_pool``'s workers: a killed parent never runs the pool's
    shutdown, and workers left waiting for work would run on. On Linux the kernel sends
    SIGKILL when the parent goes (``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon
    thread also exits the process once its parent is gone. A worker only ever hands
    bytes back, so nothing is lost with it.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    # The parent may have gone before the line above took effect.
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=watch, name="ttskit-parent-watch", daemon=True).start()


def process_pool(workers: int) -> cf.ProcessPoolExecutor:
    """A pool of ``workers`` processes for ``generate(executor=...)`` that end with this
    process, however it ends.

    Workers are spawned, not forked (this process may run threads, such as the embedded
    server's). On Linux a worker's end is tied to the thread that started it, so submit
    to the pool from the thread that lives as long as the pool (``generate`` does).
    """
    return cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )


def generate(
    texts: Any,
    voices: str | Iterable[str] | None,
    out: str | os.PathLike[str],
    *,
    client: Any = None,
    model: str | None = None,
    format: str = "flac",
    sample_rate: int | None = None,
    alignment: bool = True,
    loudness: float | None = None,
    speed: float | None = None,
    language: str | None = None,
    workers: int = 4,
    executor: cf.Executor | None = None,
    retries: int = 3,
    retry_backoff: float = 1.0,
    splits: dict[str, float] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    quality: bool | str | Iterable[str] = False,
    quality_limits: Any = None,
    asr: str | None = None,
) -> pd.DataFrame:
    """Synthesize every text with every voice into a dataset folder.

    The folder follows Hugging Face's audiofolder layout (``datasets.load_dataset(
    "audiofolder", data_dir=out)`` loads it): audio under ``out/data/`` (or one folder
    per split) beside a ``metadata.jsonl`` whose rows hold ``file_name``, the text,
    voice, model, endpoint, sample rate, word timestamps (JSON), the quality columns of
    ``ttskit.dataset.quality.measure`` and the carried input columns. A rerun skips what
    is done; an interrupted or killed run loses nothing but the items in flight.

    Parameters
    ----------
    texts : list of str, pandas.Series, pandas.DataFrame, or path
        A DataFrame (or .csv/.jsonl file) needs a ``text`` column; ``id`` becomes
        ``text_id``; other columns are carried. A .txt file has one text per line.
        Empty texts are skipped and repeated texts made once (both counted).
    voices : str or list of str or None
        Every text is spoken by every voice; None takes the model's first voice. An
        unknown voice fails here, before anything is generated.
    out : path
        The dataset folder: new, empty, or a dataset made here before. A folder holding
        anything else is refused.
    client : ttskit.Client, Endpoint or ClientSpec, optional
        The endpoint; ``ttskit.Client()`` when None (which may start the embedded
        server). Workers in other processes make their own client from its endpoint,
        key and options (``ClientSpec.from_client``).
    model : str, optional
        The client's model, else the endpoint's first (the hosted API needs it named).
    format : {"flac", "wav", "ogg", "mp3"}
    sample_rate : int, optional
        Asked of the server; its default when None.
    alignment : bool
        Ask for word timestamps (a streamed answer) and check that they cover the audio.
    loudness : float, optional
        Normalize every item to this integrated loudness in LUFS (e.g. -23).
    speed : float, optional
    language : str, optional
    workers : int
        Threads making requests; with ``executor=``, items handed to it at a time is
        twice this. The default suits the embedded server on a small machine (one slot
        per core, up to four): about two requests per slot, so that each slot has the
        next request waiting while this process measures and encodes the last answer.
        Raise it for the hosted API, whose latency more requests in flight hide.
    executor : concurrent.futures.Executor, optional
        Where items are made: a ``ProcessPoolExecutor``, or a Dask cluster's
        ``distributed.Client.get_executor()``. Not shut down here.
    retries : int
        Further attempts at a failing item, after ``retry_backoff`` seconds doubling
        each time (or what the server asks); then the item is recorded as failed and
        the run goes on.
    retry_backoff : float
    splits : dict, optional
        ``{"train": 0.9, "test": 0.1}``: each text goes to one split, chosen from the
        text alone, with all its voices, so that no text is in two splits.
    overwrite : bool
        Delete the dataset at ``out`` first. Only a dataset ttskit made, holding nothing
        else: a folder with files the dataset did not make is refused, never emptied.
    progress : bool
        Show a ``tqdm`` bar with items per second and hours of audio.
    quality : bool or list of {"wer", "mos", "vad", "timestamps"}
        Score every item with ``ttskit.quality`` once its file is made, on the worker
        that made it (whose scorers load once per process): ``wer``, ``cer`` and
        ``transcript``; ``mos_p808``, ``mos_sig``, ``mos_bak``, ``mos_ovrl``;
        ``speech_onset_s``, ``speech_ratio`` and the silences; and, with ``alignment``,
        the word timestamps against a forced alignment. The columns go in the manifest
        with ``quality_reason`` (why a value is missing) and ``scored_at``; the limits
        an item breaks are added to ``issues`` and ``suspicious`` (and listed in
        ``quality_issues``). A rerun keeps the scores an item has and scores the items
        that have none (made before without ``quality``). Needs
        ``pip install 'ttskit[quality]'``.
    quality_limits : ttskit.quality.Limits, optional
        What flags an item: ``wer`` above 0.1, ``mos_ovrl`` below 2, speech starting
        after 1 s, trailing silence over 1.5 s, word timestamps off by over 100 ms.
    asr : str, optional
        The transcriber of ``wer``: the bundled Whisper tiny.en when None, a
        faster-whisper model name or folder, or an OpenAI-compatible ``.../v1`` URL.

    Returns
    -------
    pandas.DataFrame
        The manifest of this call's items, made now or before, failed ones included
        (``status``, ``error``), with ``path`` to each file; ``attrs["summary"]`` is the
        run's ``Summary``.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C, after the folder is made consistent; its message says how to resume.

    Examples
    --------
    >>> import ttskit
    >>> from ttskit import dataset
    >>> table = dataset.generate(
    ...     ["Hello there.", "How are you?"], ["en-us", "en-gb"], "my_dataset",
    ...     client=ttskit.local("espeak"),
    ... )  # doctest: +SKIP
    >>> table[["text", "voice", "duration", "loudness_lufs", "suspicious"]]  # doctest: +SKIP
    >>> scored = dataset.generate(
    ...     ["Hello there."], "en-us", "my_dataset", client=ttskit.local("espeak"), quality=True
    ... )  # doctest: +SKIP
    >>> scored[["text", "wer", "mos_ovrl", "speech_onset_s", "issues"]]  # doctest: +SKIP
    """
    started = time.perf_counter()
    format = check_options(format, workers, retries, retry_backoff, loudness)
    for module in ("pyloudnorm", "tqdm"):
        require_module(module)
    metrics = check_metrics(quality, alignment=bool(alignment))
    if metrics:
        limits, scorers = start_scoring(metrics, asr, quality_limits)
    elif quality_limits is not None or asr is not None:
        raise InvalidArgument("quality_limits= and asr= are for quality=True; pass it too")
    splits = check_splits(splits)
    given = read_texts(texts)
    voice_list = listed_voices(voices)
    parent, spec = clients_for(client)
    model = resolve_model(parent, model)
    resolved = resolve_voices(parent, model, voice_list)

    in_process = executor is None or isinstance(executor, cf.ThreadPoolExecutor)
    source: Any = parent
    if not in_process:
        # Workers elsewhere build their own client from the parent's endpoint (its key
        # included, never shown) and options.
        source = spec or ClientSpec.from_client(parent)

    layout = Layout(out)
    layout.prepare(settings={"splits": splits}, overwrite=overwrite)
    records = layout.recover()

    params = {
        "format": format,
        "sample_rate": sample_rate,
        "alignment": bool(alignment),
        "loudness": loudness,
        "speed": speed,
        "language": language,
    }
    job_options = {
        **params,
        "retries": retries,
        "retry_backoff": float(retry_backoff),
        "quality": metrics,
        "asr": asr,
    }
    plans = list(
        plan_items(
            given.table,
            resolved,
            model=model,
            splits=splits,
            params=params,
            job_options=job_options,
        )
    )
    ids = [p.job.item_id for p in plans]
    pending = [p for p in plans if records.get(p.job.item_id, {}).get("status") != "ok"]
    summary = Summary(
        out=str(out),
        texts=given.n_given,
        empty=given.n_empty,
        duplicates=given.n_duplicate,
        voices=len(resolved),
        items=len(plans),
        done_before=len(plans) - len(pending),
    )
    del records

    from tqdm.auto import tqdm

    own_executor = executor is None
    pool: cf.Executor = executor or cf.ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix="ttskit-dataset"
    )
    bar = tqdm(
        total=len(pending), unit="item", desc="dataset", disable=not progress, smoothing=0.05
    )
    window = 2 * workers
    queue = iter(pending)
    futures: dict[cf.Future, Plan] = {}
    stopped = threading.Event()

    def pause(seconds: float) -> None:
        # A retry's wait ends at once when the run is interrupted, so that the threads of
        # an interrupted run finish their request in flight and stop, and the process
        # can exit (the item is left for the next run).
        if stopped.wait(seconds):
            raise _Stopped("the run was interrupted")

    # Threads of this process share the stop; other processes' workers retry on their own.
    options = {"sleep": pause} if own_executor else {}

    def fill() -> None:
        while len(futures) < window:
            plan = next(queue, None)
            if plan is None:
                return
            futures[pool.submit(make_item, source, plan.job, **options)] = plan

    def commit(plan: Plan, outcome: Outcome) -> None:
        job = plan.job
        record: dict[str, Any] = {
            "file_name": None,
            "id": job.item_id,
            "text_id": plan.text_id,
            "text": job.text,
            "voice": job.voice,
            "model": job.model,
        }
        if outcome.ok:
            file_name = layout.file_name(job.item_id, job.format, plan.split)
            (layout.root / file_name).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(layout.root / file_name, outcome.data or b"")
            record["file_name"] = file_name
            record.update(outcome.row)
            record.update(format=job.format, split=plan.split, status="ok")
            summary.made += 1
            summary.audio_seconds += outcome.row.get("duration") or 0.0
        else:
            record.update(split=plan.split, status="failed", error=outcome.error)
            summary.failed += 1
            reason = (outcome.error or "").split(":", 1)[0]
            summary.failures[reason] = summary.failures.get(reason, 0) + 1
        record["attempts"] = outcome.attempts
        if metrics and outcome.ok:
            flag(record, limits)
            summary.scored += SCORED_AT in record
        layout.journal.append(ordered(record, plan.carried))

    committed = 0
    try:
        fill()
        while futures:
            finished, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                plan = futures.pop(future)
                try:
                    outcome = future.result()
                except Exception as exc:  # the executor failed, not the item
                    outcome = Outcome(
                        plan.job.item_id, row={}, error=f"{type(exc).__name__}: {exc}"
                    )
                commit(plan, outcome)
                del outcome
                committed += 1
                if _release_memory is not None and committed % RELEASE_EVERY == 0:
                    # Each item's audio, answer and file pass through malloc in worker
                    # threads; glibc keeps what they free in its per-thread arenas and
                    # only trims the main one, so a long run's resident memory would
                    # grow by kilobytes per item without this.
                    _release_memory()
                bar.update(1)
                bar.set_postfix_str(f"{summary.audio_seconds / 3600:.3f} h audio", refresh=False)
            fill()
        bar.close()
        if metrics:
            write_provenance(layout, scoring_attrs(scorers, limits))
            # Items made before without scores (or whose worker could not score them).
            summary.scored += score_missing(
                layout, set(ids), metrics, asr=asr, limits=limits, progress=progress
            )
    except KeyboardInterrupt:
        summary.interrupted = True
        stopped.set()
        for future in futures:
            future.cancel()
    finally:
        bar.close()
        if own_executor:
            pool.shutdown(wait=not summary.interrupted, cancel_futures=True)
        layout.journal.close()
        if _release_memory is not None:
            _release_memory()
        # After an interruption a file may have been cut between rename and journal.
        if summary.interrupted:
            layout.write_metadata(layout.recover().values())
        else:
            # Streamed from the journal, one record at a time: a large run's records
            # are never all in memory as dicts.
            offsets = layout.journal.offsets()
            layout.write_metadata(layout.journal.latest(offsets))
    summary.elapsed_s = time.perf_counter() - started
    if summary.interrupted:
        raise KeyboardInterrupt(
            f"stopped with {summary.done} of {summary.items} items done in {str(out)!r}; "
            "run the same generate() call or `ttskit dataset` command again to resume: "
            "finished items are kept"
        )
    manifest = frame(layout.journal.at(offsets[i] for i in ids if i in offsets), layout.root)
    if metrics:
        summary.flagged = int(manifest["suspicious"].fillna(False).astype(bool).sum())
        manifest.attrs["quality"] = scoring_attrs(scorers, limits)
    manifest.attrs["summary"] = summary
    return manifest
