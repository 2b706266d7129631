"""WebSocket servers on loopback for what the local server does not do: misbehave."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from ttskit import audio


def flooding(kind: str) -> Callable[[ServerConnection], None]:
    """A session that answers nothing it is asked and sends ``kind`` events without end:
    settings, another context's audio, or audio of the default context that never ends."""
    pcm = base64.b64encode(audio.encode_pcm(audio.sine(440, duration=0.1, sample_rate=24000)))
    messages = {
        "session.updated": {"type": "session.updated", "session": {"voice": "v"}},
        "other context": {"type": "conversation.item.audio_output.delta",
                          "context_id": "intruder", "item_id": "x", "delta": pcm.decode()},
        "endless audio": {"type": "conversation.item.audio_output.delta",
                          "item_id": "tts_1", "delta": pcm.decode()},
    }  # fmt: skip
    message = json.dumps(messages[kind])

    def handler(ws: ServerConnection) -> None:
        created = {"type": "session.created", "session": {"voice": "v", "context_done": True}}
        ws.send(json.dumps(created))
        try:
            while True:
                ws.send(message)
        except ConnectionClosed:
            return

    return handler
