"""Model and voice listings (``GET /v1/models``, ``GET /v1/voices``) as DataFrames.

Servers disagree on the shape of a listing (PROTOCOL.md section 5 and what OpenAI-style
servers send); every shape seen becomes the same columns here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import ProtocolError

__all__ = ["models_frame", "voices_frame"]


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
