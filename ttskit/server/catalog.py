"""What the server offers: ``GET /v1/models[/{id}]``, ``GET /v1/voices`` and ``GET /health``.

Models and voices say what an answer holds by default: ``sample_rate`` is the rate the
server sends when a request names none (every engine is resampled to it), and
``formats`` the ``response_format`` values it answers with audio.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from .registry import LocalModel, Registry
from .schemas import DEFAULT_SAMPLE_RATE, RESPONSE_FORMATS
from .state import ServerState

__all__ = ["router"]

router = APIRouter()


def _state(request: Request) -> ServerState:
    return request.app.state.ttskit


def _model(registry: Registry, model_id: str) -> dict[str, Any]:
    """OpenAI's model object, with what the model's answers hold."""
    model, aliased = registry.resolve(model_id)
    entry = {
        "id": model_id,
        "object": "model",
        "created": 0,
        "owned_by": "ttskit",
        "type": "audio",
        "sample_rate": DEFAULT_SAMPLE_RATE,
        "formats": list(RESPONSE_FORMATS),
    }
    if aliased:
        entry["root"] = model.id
    return entry


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    """OpenAI-style model list: local models, then hosted ids aliased to them."""
    registry = _state(request).registry
    return {"object": "list", "data": [_model(registry, model_id) for model_id in registry.ids()]}


@router.get("/v1/models/{model_id:path}")
async def get_model(request: Request, model_id: str) -> dict[str, Any]:
    """One model (hosted ids hold a slash); 404 ``model_not_found`` for an unknown id."""
    return _model(_state(request).registry, model_id)


@router.get("/v2/projects/{project_id}/models")
async def list_project_models(project_id: str) -> dict[str, Any]:
    """Together's custom models of a project (its SDK's ``models.list()``): a local server
    has none, so the page is empty; the models it serves are at ``/v1/models``."""
    return {"data": [], "next_cursor": None}


def _voices(model_id: str, model: LocalModel) -> dict[str, Any]:
    return {
        "model": model_id,
        "sample_rate": DEFAULT_SAMPLE_RATE,
        "formats": list(RESPONSE_FORMATS),
        "voices": [
            {
                "id": voice.name,
                "name": voice.name,
                "language": voice.language,
                "gender": voice.gender,
                "description": voice.description,
            }
            for voice in model.voices
        ],
    }


@router.get("/v1/voices")
async def list_voices(request: Request, model: str | None = None) -> dict[str, Any]:
    """Voices per model id; ``?model=`` picks one (404 if the server lacks it)."""
    registry = _state(request).registry
    model_ids = registry.ids() if model is None else [model]
    return {"data": [_voices(model_id, registry.resolve(model_id)[0]) for model_id in model_ids]}


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """Liveness, and how busy each model's slots are."""
    registry = _state(request).registry
    return {
        "status": "ok",
        "models": {
            model_id: {
                "slots": model.pool.size,
                "busy": model.pool.busy,
                "queued": model.pool.queued,
                "queue_size": model.pool.queue_size,
            }
            for model_id, model in registry.models.items()
        },
    }
