"""``generate``: texts x voices into a dataset folder, resumable, on any executor.

One run is three parts that can be used and tested one by one: ``plan.plan_run`` checks
the arguments, reads the texts, resolves the model and voices and plans the items;
``execute.execute`` makes them on an executor; ``record.Writer`` writes each outcome into
the folder, then its metadata, the manifest and the ``Summary``.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import time
from collections.abc import Iterable
from typing import Any

import pandas as pd

from .execute import die_with_parent, execute, process_pool
from .layout import Layout
from .plan import plan_run
from .record import Summary, Writer

__all__ = ["Summary", "die_with_parent", "generate", "process_pool"]


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
    per split) beside a ``metadata.jsonl`` whose rows hold ``file_name``, the text, the
    voice and model the server says it used (``requested_voice`` and ``requested_model``
    beside them: an alias, or a voice the server replaced), endpoint, sample rate, word timestamps (JSON), the quality columns of
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
        unknown voice fails here, before anything is generated (on a model the server
        serves as an alias, it speaks an unlisted voice with a voice of its own, and the
        manifest's ``voice`` says which).
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
        Further attempts at a failing item, in all: the client's retries of a refused
        request or a failed connection (``max_retries=retries`` on each request, with the
        client's waits or what the server asks), and retries of a stream cut or a read
        broken after the server accepted the request. An item costs at most
        ``retries + 1`` requests; then it is recorded as failed and the run goes on. The
        manifest's ``attempts`` is the requests an item took, the client's retries
        included (``Speech.timing.attempts``).
    retry_backoff : float
        Seconds before retrying a cut stream, doubling each time.
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
    run = plan_run(
        texts,
        voices,
        client=client,
        model=model,
        workers=workers,
        executor=executor,
        splits=splits,
        quality=quality,
        quality_limits=quality_limits,
        asr=asr,
        format=format,
        sample_rate=sample_rate,
        alignment=alignment,
        loudness=loudness,
        speed=speed,
        language=language,
        retries=retries,
        retry_backoff=retry_backoff,
    )
    layout = Layout(out)
    layout.prepare(settings={"splits": run.splits}, overwrite=overwrite)
    writer = Writer(layout, run, out=str(out))
    pending = writer.pending()
    interrupted = True  # until the items are made: a failure keeps what is committed
    try:
        interrupted = execute(
            pending,
            run.source,
            writer.commit,
            executor=executor,
            workers=workers,
            progress=progress,
            describe=writer.describe,
            total=len(pending),
        )
        if not interrupted:
            writer.score_rest(progress=progress)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        writer.close(interrupted=interrupted)
    summary = writer.summary
    summary.elapsed_s = time.perf_counter() - started
    if interrupted:
        raise KeyboardInterrupt(
            f"stopped with {summary.done} of {summary.items} items done in {str(out)!r}; "
            "run the same generate() call or `ttskit dataset` command again to resume: "
            "finished items are kept"
        )
    return writer.manifest()
