"""Before a run: the arguments checked, the model and voices resolved against the endpoint,
and the items planned (ids, splits, carried columns), so that a bad run fails before its
first request."""

from __future__ import annotations

import concurrent.futures as cf
import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .. import audio as _audio
from ..client import Endpoint, resolve_defaults
from ..errors import ConfigurationError, InvalidArgument, NotFoundError, TTSKitError
from .ids import check_splits, item_id, split_of
from .inputs import Texts, read_texts
from .quality import check_metrics
from .scoring import start_scoring
from .worker import ClientSpec, Job

__all__ = [
    "ITEM_OPTIONS",
    "Plan",
    "RunPlan",
    "check_options",
    "clients_for",
    "listed_voices",
    "plan_items",
    "plan_run",
    "require_module",
    "resolve_model",
    "resolve_voices",
]


@dataclass
class Plan:
    """One item of this run: its job and what the parent adds to the worker's row."""

    job: Job
    text_id: str
    split: str | None
    carried: dict[str, Any]


#: How each item is made, and what of it enters its id (all but the retries).
ITEM_OPTIONS = {
    "format": "flac",
    "sample_rate": None,
    "alignment": True,
    "loudness": None,
    "speed": None,
    "language": None,
    "retries": 3,
    "retry_backoff": 1.0,
}
_NOT_IN_ID = ("retries", "retry_backoff")


@dataclass
class RunPlan:
    """A checked run, before anything is written: its items and what makes them."""

    plans: list[Plan]
    #: What workers make requests with: the client, or a ``ClientSpec`` for other processes.
    source: Any
    model: str
    voices: list[str]
    given: Texts
    splits: dict[str, float] | None = None
    #: ``ttskit.quality`` metrics, with the limits that flag an item and the loaded scorers.
    metrics: tuple[str, ...] = ()
    limits: Any = None
    scorers: Any = None
    asr: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def plan_run(
    texts: Any,
    voices: Any,
    *,
    client: Any = None,
    model: str | None = None,
    workers: int = 4,
    executor: cf.Executor | None = None,
    splits: dict[str, float] | None = None,
    quality: Any = False,
    quality_limits: Any = None,
    asr: str | None = None,
    **item: Any,
) -> RunPlan:
    """Check ``generate``'s arguments, read the texts, resolve the model and voices
    against the endpoint and plan every item, so that a bad run fails before it writes
    or sends anything. ``item`` holds the options of ``ITEM_OPTIONS``."""
    options = {**ITEM_OPTIONS, **item}
    options["format"] = check_options(
        options["format"],
        workers,
        options["retries"],
        options["retry_backoff"],
        options["loudness"],
    )
    options["alignment"] = bool(options["alignment"])
    options["retry_backoff"] = float(options["retry_backoff"])
    for module in ("pyloudnorm", "tqdm"):
        require_module(module)
    metrics, limits, scorers = _scoring(quality, options["alignment"], quality_limits, asr)
    splits = check_splits(splits)
    given = read_texts(texts)
    listed = listed_voices(voices)
    parent, spec = clients_for(client)
    model = resolve_model(parent, model)
    resolved = resolve_voices(parent, model, listed)
    params = {k: v for k, v in options.items() if k not in _NOT_IN_ID}
    jobs = {**options, "quality": metrics, "asr": asr}
    plans = plan_items(
        given.table, resolved, model=model, splits=splits, params=params, job_options=jobs
    )
    return RunPlan(
        plans=list(plans),
        source=source_for(parent, spec, executor),
        model=model,
        voices=resolved,
        given=given,
        splits=splits,
        metrics=metrics,
        limits=limits,
        scorers=scorers,
        asr=asr,
        options=options,
    )


def _scoring(
    quality: Any, alignment: bool, quality_limits: Any, asr: str | None
) -> tuple[tuple[str, ...], Any, Any]:
    """The metrics of ``quality=``, with their limits and scorers (loaded now, so that a
    missing extra fails before any request)."""
    metrics = tuple(check_metrics(quality, alignment=alignment))
    if not metrics:
        if quality_limits is not None or asr is not None:
            raise InvalidArgument("quality_limits= and asr= are for quality=True; pass it too")
        return (), None, None
    limits, scorers = start_scoring(metrics, asr, quality_limits)
    return metrics, limits, scorers


def source_for(parent: Any, spec: ClientSpec | None, executor: cf.Executor | None) -> Any:
    """What workers make requests with: ``parent`` itself on this process's threads; on
    other processes, the ``ClientSpec`` they build their own client from (the parent's
    endpoint, its key included and never shown, and options)."""
    if executor is None or isinstance(executor, cf.ThreadPoolExecutor):
        return parent
    return spec or ClientSpec.from_client(parent)


def require_module(module: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ConfigurationError(
            f"dataset generation needs {module}: pip install 'ttskit[dataset]'"
        )


def listed_voices(voices: Any) -> list[str | None]:
    if voices is None:
        return [None]
    if isinstance(voices, str):
        voices = [voices]
    listed = list(dict.fromkeys(voices))
    bad = [v for v in listed if not isinstance(v, str) or not v.strip()]
    if bad or not listed:
        raise InvalidArgument(f"voices={voices!r} must be a voice name or a list of them")
    return listed


def clients_for(client: Any) -> tuple[Any, ClientSpec | None]:
    """This process's client, and the description given for other processes (if any)."""
    if isinstance(client, Endpoint):
        client = ClientSpec(client)
    if isinstance(client, ClientSpec):
        return client.connect(), client
    if client is None:
        from ttskit import Client

        return Client(), None
    if not hasattr(client, "speak") or not hasattr(client, "base_url"):
        raise InvalidArgument(
            f"client must be a ttskit.Client, a client's Endpoint or a ClientSpec, got "
            f"{type(client).__name__}"
        )
    return client, None


def resolve_model(client: Any, model: str | None) -> str:
    """``model``, else the client's default (``resolve_defaults``, the client's own rule).

    The hosted API's model must be named, so that item ids never depend on a default.
    """
    if not model and getattr(client, "hosted", False) and not client.model:
        raise InvalidArgument(
            "model=None: name the model to generate with, e.g. "
            "model='canopylabs/orpheus-3b-0.1-ft', so that item ids do not depend on defaults"
        )
    return resolve_defaults(client, model or None)[0]


def resolve_voices(client: Any, model: str, voices: list[str | None]) -> list[str]:
    """The voices, checked against the endpoint's list before anything is generated; None
    is the client's default voice for ``model`` (``resolve_defaults``). A model served as
    an alias (its ``root`` in ``client.models()``) takes voices it does not list: the
    server speaks them with its engine's default voice and says which (the manifest's
    ``voice``, beside ``requested_voice``)."""
    try:
        listed = client.voices(model)
    except NotFoundError:
        listed = pd.DataFrame(columns=["model", "id", "name"])
    known = set(listed["name"].astype(str)) | set(listed["id"].astype(str))
    resolved: list[str] = []
    for voice in voices:
        if voice is None:
            # The voice a request without one gets from this client.
            voice = resolve_defaults(client, model)[1]
        if known and voice not in known and not _aliased(client, model):
            close = difflib.get_close_matches(voice, sorted(known), n=5, cutoff=0.5)
            hint = f"close ones: {', '.join(close)}" if close else f"{len(known)} voices"
            raise InvalidArgument(
                f"voice {voice!r} is not a voice of model {model!r} at {client.base_url} "
                f"({hint}); see client.voices({model!r})"
            )
        resolved.append(voice)
    return list(dict.fromkeys(resolved))


def _aliased(client: Any, model: str) -> bool:
    """Whether the endpoint serves ``model`` as an alias of another (its ``root``): then a
    voice it does not list is spoken by the engine's default voice, not refused."""
    try:
        models = client.models()
    except TTSKitError:
        return False
    if "root" not in models.columns:
        return False
    roots = models.loc[models["id"].astype(str) == model, "root"].dropna().astype(str)
    return bool((roots != model).any())


def check_options(
    format: str, workers: int, retries: int, retry_backoff: float, loudness: float | None
) -> str:
    key = str(format).lower().lstrip(".")
    if key not in _audio.FILE_FORMATS:
        raise InvalidArgument(f"format={format!r} is not one of {list(_audio.FILE_FORMATS)}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidArgument(f"workers={workers!r} must be an int >= 1")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidArgument(f"retries={retries!r} must be an int >= 0")
    if not isinstance(retry_backoff, int | float) or retry_backoff < 0:
        raise InvalidArgument(f"retry_backoff={retry_backoff!r} must be seconds >= 0")
    if loudness is not None and (
        isinstance(loudness, bool)
        or not isinstance(loudness, int | float)
        or not -70 < loudness < 0
    ):
        raise InvalidArgument(f"loudness={loudness!r} must be a target in LUFS, e.g. -23")
    return key


def plan_items(
    table: pd.DataFrame,
    voices: list[str],
    *,
    model: str,
    splits: dict[str, float] | None,
    params: dict[str, Any],
    job_options: dict[str, Any],
) -> Iterator[Plan]:
    carried = [c for c in table.columns if c not in ("text_id", "text")]
    for values in table.to_dict("records"):
        text = values["text"]
        split = split_of(text, splits) if splits else None
        extra = {c: _json_value(values[c]) for c in carried}
        for voice in voices:
            yield Plan(
                job=Job(
                    item_id=item_id(text, voice, model, params),
                    text=text,
                    voice=voice,
                    model=model,
                    **job_options,
                ),
                text_id=str(values["text_id"]),
                split=split,
                carried=extra,
            )


def _json_value(value: Any) -> Any:
    """A carried value as JSON can hold it (numpy scalars to Python, NaN to None)."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
