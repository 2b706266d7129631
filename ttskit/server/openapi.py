"""The published ``/openapi.json``: what the server takes and answers, exactly.

FastAPI's own schema knows the routes but not the wire: the speech endpoint reads its
body itself and answers audio or events, every error is the protocol's error body, and
FastAPI's 422 is never sent. ``install_openapi`` makes the schema say so, so that
schema-driven tools (client generators, schemathesis) reach synthesis without a
hand-tightened copy:

- the speech request with its constraints: ``model`` among those served, ``voice`` among
  the model's (any, for a hosted id aliased to a local model),
  ``input`` with at most ``max_input_chars`` characters and at least one letter or digit
  (``INPUT_PATTERN``);
- its answers: ``audio/wav``, ``audio/mpeg``, ``audio/flac``, ``audio/ogg``, ``application/octet-stream``
  and ``text/event-stream``;
- the transcription form (``multipart/form-data``) and its JSON or text answers;
- every error status each path can send, with the error body.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .schemas import SpeechRequest
from .state import ServerState
from .transcriptions import TRANSCRIPTIONS_PATH

__all__ = ["INPUT_PATTERN", "install_openapi"]

SPEECH_PATH = "/v1/audio/speech"

#: What the server asks of ``input``: a letter or digit, of any script. No regular
#: expression says "letter" alike in ECMA-262 and Python (``\p{L}`` is ECMA's alone, and
#: ``\w`` is ASCII in ECMA), so the pattern is exact for ASCII (a letter or digit) and
#: lets any other character through to the server, which answers a text of only
#: punctuation, symbols or spaces with its 400 ``no_words``.
INPUT_PATTERN = r"[^\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]"

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}

_DESCRIPTIONS = {
    400: "Bad request: a field, the JSON or a header is wrong",
    401: "Missing or wrong API key",
    403: "A web page of another origin",
    404: "Unknown model or path",
    408: "The request body did not arrive in time",
    413: "The request body is too large",
    415: "The request body is not declared JSON (a transcription: not a multipart form)",
    429: "Every slot and the queue are busy; see Retry-After",
    500: "The engine failed",
    501: "Transcription needs the quality extra: pip install 'ttskit[quality]'",
    503: "No slot came free in time, or the synthesis took too long; see Retry-After",
}

_RETRY_HEADERS = {
    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"},
}

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_SPEECH_ANSWER = {
    "description": "The audio file (``stream: false``) or Server-Sent Events "
    "(``stream: true`` or ``stream_format: sse``)",
    "content": {
        "audio/wav": _BINARY,
        "audio/mpeg": _BINARY,
        "audio/flac": _BINARY,
        "audio/ogg": _BINARY,
        "application/octet-stream": _BINARY,
        "text/event-stream": {
            # One Server-Sent Event (OpenAPI 3.1 has ``schema`` describe each event): its
            # data is a JSON payload of PROTOCOL.md section 2, or ``[DONE]``.
            "schema": {
                "type": "object",
                "required": ["data"],
                "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
            },
            "example": 'data: {"type":"conversation.item.audio_output.delta",'
            '"item_id":"tts_1","delta":"AAAA"}\n\ndata: [DONE]\n\n',
        },
    },
}

_TRANSCRIPTION_ANSWER = {
    "description": "The text (``json``, ``text``), or with its duration, segments and words "
    "(``verbose_json``); the header ``x-ttskit-model`` names the model that transcribed",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["text"],
                "properties": {
                    "text": {"type": "string"},
                    "language": {"type": "string"},
                    "duration": {"type": "number"},
                    "segments": {"type": "array", "items": {"type": "object"}},
                    "words": {"type": "array", "items": {"type": "object"}},
                },
            }
        },
        "text/plain": {"schema": {"type": "string"}},
    },
}


def _error(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status in (429, 503):
        response["headers"] = _RETRY_HEADERS
    return response


def _speech_request(state: ServerState) -> dict[str, Any]:
    schema = copy.deepcopy(SpeechRequest.model_json_schema())
    properties = schema.get("properties", {})
    if properties.get("input", {}).get("type") == "string":
        properties["input"].update(
            minLength=1, maxLength=state.max_input_chars, pattern=INPUT_PATTERN
        )
    if properties.get("model", {}).get("type") == "string":
        properties["model"]["enum"] = state.registry.ids()
    if "voice" in properties:
        # A local model speaks the voices it lists; an aliased hosted id takes any voice
        # and falls back to the model's default.
        takes_objects = '"object"' in json.dumps(properties["voice"])  # OpenAI's {"id": ...}
        schema["allOf"] = [
            {
                "if": {"properties": {"model": {"const": model_id}}, "required": ["model"]},
                "then": {"properties": {"voice": _one_of_voices(model, takes_objects)}},
            }
            for model_id, model in state.registry.models.items()
        ]
    return schema


def _one_of_voices(model: Any, takes_objects: bool) -> dict[str, Any]:
    names = {"enum": [voice.name for voice in model.voices]}
    if not takes_objects:
        return names
    named = {"type": "object", "required": ["id"], "properties": {"id": names}}
    return {"anyOf": [names, named]}


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is not None:
        return app.openapi_schema
    state: ServerState = app.state.ttskit
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    components["Error"] = _ERROR_SCHEMA
    statuses = [401] if state.api_key else []
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            wanted = [*statuses, 404, 500]
            if operation.get("parameters"):
                wanted.append(400)
            if path == SPEECH_PATH and method == "post":
                wanted += [400, 403, 408, 413, 415, 429, 503]
                responses["200"] = _SPEECH_ANSWER
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": _speech_request(state)}},
                }
            if path == TRANSCRIPTIONS_PATH and method == "post":
                wanted += [400, 403, 408, 413, 415, 429, 501, 503]
                responses["200"] = _TRANSCRIPTION_ANSWER
            if path == "/health":
                wanted = [500]
            for status in sorted(set(wanted)):
                responses[str(status)] = _error(status)
    app.openapi_schema = schema
    return schema


def install_openapi(app: FastAPI) -> None:
    """Publish the schema described above at ``app.openapi_url``."""
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
