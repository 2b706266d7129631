"""Model and voice listings (``GET /v1/models``, ``GET /v1/voices``) as DataFrames, and
the defaults a client picks from them.

Servers disagree on the shape of a listing (PROTOCOL.md section 5 and what OpenAI-style
servers send); every shape seen becomes the same columns here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import ConfigurationError, ProtocolError
from .endpoint import DEFAULT_VOICES, HOSTED_DEFAULT_MODEL

if TYPE_CHECKING:
    from .asynchronous import AsyncClient
    from .http import Client

__all__ = ["Defaults", "models_frame", "resolve_defaults", "voices_frame"]


def _listed(payload: Any) -> list:
    data = payload.get("data", payload) if isinstance(payload, dict) else payload
    if not isinstance(data, list):
        raise ProtocolError(f"expected a list of data, got {str(payload)[:200]!r}")
    return data


def models_frame(payload: Any) -> pd.DataFrame:
    """One row per model, column ``id`` first."""
    rows = [m if isinstance(m, dict) else {"id": m} for m in _listed(payload)]
    frame = pd.DataFrame(rows)
    if "id" not in frame:
        frame["id"] = pd.Series(dtype=object)
    return frame[["id", *[c for c in frame.columns if c != "id"]]]


def voices_frame(payload: Any, model: str | None = None) -> pd.DataFrame:
    """Columns ``model``, ``id``, ``name``; only ``model``'s voices when it is given."""
    rows = []
    for entry in _listed(payload):
        if not isinstance(entry, dict):
            rows.append({"model": model, "id": str(entry), "name": str(entry)})
            continue
        nested = entry.get("voices")
        for voice in nested if isinstance(nested, list) else [entry]:
            voice = voice if isinstance(voice, dict) else {"name": str(voice)}
            name = voice.get("name", voice.get("id"))
            rows.append(
                {
                    "model": entry.get("model", voice.get("model", model)),
                    "id": voice.get("id", name),
                    "name": name,
                }
            )
    frame = pd.DataFrame(rows, columns=["model", "id", "name"])
    return frame[frame["model"] == model].reset_index(drop=True) if model else frame


class Defaults:
    """The model and voice of requests that name none, looked up once, under a lock.

    The hosted API gets Orpheus and ``tara``; another server is asked (its first model,
    then that model's first voice) on first use. A voice given without a model goes with
    whatever model a request names. ``models`` and ``voices`` fetch the listings (a
    client's ``models()`` and ``voices(model)``).
    """

    def __init__(
        self,
        models: Callable[[], pd.DataFrame],
        voices: Callable[[str], pd.DataFrame],
        *,
        hosted: bool,
        base_url: str,
        model: str | None,
        voice: str | None,
    ) -> None:
        self._models = models
        self._voices = voices
        self._hosted = hosted
        self._base_url = base_url
        self.model = model
        self.voice = voice
        self._voice_for_any_model = voice is not None and model is None
        self._voices_of: dict[str, str] = {}
        self._lock = threading.Lock()

    def resolve(self, model: str | None = None, voice: str | None = None) -> tuple[str, str]:
        """``(model, voice)`` of a request: those given, else the defaults."""
        model = model or self.model_for()
        return model, voice or self.voice_for(model)

    def model_for(self) -> str:
        """The default model, discovered on first use."""
        with self._lock:
            if self.model is None:
                if self._hosted:
                    self.model = HOSTED_DEFAULT_MODEL
                else:
                    listed = self._models()
                    if listed.empty:
                        raise ConfigurationError(f"{self._base_url} lists no models; pass model=")
                    self.model = str(listed["id"].iloc[0])
            return self.model

    def voice_for(self, model: str) -> str:
        """The default voice for ``model``, discovered on first use."""
        with self._lock:
            if self.voice and (model == self.model or self._voice_for_any_model):
                return self.voice
            if model not in self._voices_of:
                known = DEFAULT_VOICES.get(model.lower())
                if known is None:
                    listed = self._voices(model)
                    if listed.empty:
                        raise ConfigurationError(
                            f"{self._base_url} lists no voices for {model!r}; pass voice="
                        )
                    known = str(listed["name"].iloc[0])
                self._voices_of[model] = known
            if model == self.model and self.voice is None:
                self.voice = self._voices_of[model]
            return self._voices_of[model]


def resolve_defaults(
    client: Client | AsyncClient, model: str | None = None, voice: str | None = None
) -> tuple[str, str]:
    """The model and voice a request of ``client`` goes out with: those given, else the
    client's defaults (the hosted API's Orpheus and ``tara``; another server's first
    model and its first voice, asked once per client).

    The one rule of defaults, which ``Client``, ``AsyncClient``, ``bench`` and ``dataset``
    share. It may ask the server (a blocking call, also for an ``AsyncClient``).

    >>> resolve_defaults(ttskit.Client("together", api_key="k"))  # doctest: +SKIP
    ('canopylabs/orpheus-3b-0.1-ft', 'tara')
    """
    return client._defaults.resolve(model, voice)
