"""The models a server serves: local engines under their ids, and hosted ids aliased to them.

An alias lets a notebook written for the hosted API run offline unchanged, voices
included: on an aliased id a voice the local engine does not list (Orpheus's ``tara``)
falls back to the engine's default voice, and the response says which voice spoke.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..engines import Engine, Voice
from ..errors import InvalidArgument
from ..protocol import DEFAULT_SAMPLE_RATE
from .errors import WireError
from .pool import NO_SHARE, SlotPool
from .render import render_segment

__all__ = ["LocalModel", "Registry", "warm_up"]


@dataclass(frozen=True)
class LocalModel:
    """A local engine's model: its slots and what it can say."""

    id: str
    pool: SlotPool
    sample_rate: int
    voices: tuple[Voice, ...]
    default_voice: str

    def lists(self, voice: str) -> bool:
        """Whether ``voice`` is one of the voices the engine lists."""
        return any(listed.name == voice for listed in self.voices)


def _share_cores(slots: Sequence[Engine]) -> None:
    # Slots synthesize side by side, so each is set up with its share of the cores, which
    # leaves cores idle while a request runs alone. An engine that can lend them out
    # between its slots (piper: a sentence takes the cores divided among the sentences
    # being synthesized) does so.
    share = getattr(type(slots[0]), "share_cores", None)
    if len(slots) > 1 and share is not None and all(type(s) is type(slots[0]) for s in slots):
        share(slots)


def warm_up(engine: Engine) -> None:
    """Synthesize and render one word, so that the server's first request costs what later
    ones do.

    The first synthesis of a process pays for what engines and rendering set up on first
    use (piper's phonemizer, onnxruntime's first run, importing soxr): a second or so with
    piper. ``build_app`` pays it while the server starts.
    """
    voice = _default_voice(engine, tuple(engine.voices()))
    for segment in engine.synthesize("Hello.", voice=voice):
        render_segment(
            segment, sample_rate=DEFAULT_SAMPLE_RATE, encoding="pcm_s16le", delta_seconds=0.1
        )


def _default_voice(engine: Engine, voices: Sequence[Voice]) -> str:
    # The protocol has no default voice; an engine may name one, else US English is
    # preferred, then any English, then the first voice listed.
    named = getattr(engine, "default_voice", None)
    if isinstance(named, str) and named:
        return named
    ranked = sorted(
        voices, key=lambda voice: (voice.language != "en-us", not voice.language.startswith("en"))
    )
    return ranked[0].name


class Registry:
    """Model ids, local and aliased, resolved to local models.

    Parameters
    ----------
    engines : mapping of str to sequence of Engine
        Model id -> one engine per synthesis slot. Slots of an engine with a
        ``share_cores`` method (``PiperEngine``) are made to share their cores.
    aliases : mapping of str to str, optional
        Hosted model id -> local model id.
    queue_size : int
        Requests that may wait for a slot, per model.
    client_share : float
        The fraction of a model's slots and queue one client may hold (1: no bound).
    """

    def __init__(
        self,
        engines: Mapping[str, Sequence[Engine]],
        *,
        aliases: Mapping[str, str] | None = None,
        queue_size: int,
        client_share: float = NO_SHARE,
    ) -> None:
        if not engines:
            raise InvalidArgument("a server needs at least one engine")
        self.models: dict[str, LocalModel] = {}
        for model_id, slots in engines.items():
            if not slots:
                raise InvalidArgument(f"model {model_id!r} has no engine")
            _share_cores(slots)
            voices = tuple(slots[0].voices())
            if not voices:
                raise InvalidArgument(f"the {model_id!r} engine lists no voices")
            default_voice = _default_voice(slots[0], voices)
            self.models[model_id] = LocalModel(
                id=model_id,
                pool=SlotPool(slots, queue_size=queue_size, client_share=client_share),
                sample_rate=int(slots[0].sample_rate),
                voices=voices,
                default_voice=default_voice,
            )
        self.aliases = dict(aliases or {})
        for alias, target in self.aliases.items():
            if target not in self.models:
                raise InvalidArgument(
                    f"alias {alias!r} points to {target!r}, which is not served "
                    f"(served: {sorted(self.models)})"
                )

    def ids(self) -> list[str]:
        """Every model id the server answers to, local ones first."""
        return [*self.models, *(alias for alias in self.aliases if alias not in self.models)]

    def resolve(self, model_id: str) -> tuple[LocalModel, bool]:
        """The local model behind ``model_id``, and whether the id was an alias.

        Raises
        ------
        WireError
            404 ``model_not_found`` for an id the server does not serve.
        """
        if model_id in self.models:
            return self.models[model_id], False
        if model_id in self.aliases:
            return self.models[self.aliases[model_id]], True
        raise WireError(
            404,
            f"model {model_id!r} not found; this server serves {self.ids()}",
            param="model",
            code="model_not_found",
        )

    def voice_for(self, model: LocalModel, voice: str, *, aliased: bool) -> str:
        """The voice to synthesize with for a request asking for ``voice``.

        Voices the engine does not list are passed on for the engine to judge (eSpeak
        takes any ``voice+variant``), except on an aliased id, where they fall back to
        the default voice.
        """
        if aliased and not model.lists(voice):
            return model.default_voice
        return voice
