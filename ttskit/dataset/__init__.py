"""Speech datasets: texts x voices into audio files with metadata, resumable, at scale.

``generate`` writes a folder in Hugging Face's audiofolder layout (``datasets`` loads it
as it is), with quality columns per item; ``load`` reads its manifest back as a pandas
DataFrame; ``export_ljspeech`` and ``export_piper`` write the layouts that training
recipes expect. Generation runs on the client, so it works against the hosted API and
ttskit's local server alike, on threads, processes or a Dask cluster. With
``quality=True`` every item is also scored by ``ttskit.quality`` (word error rate, DNSMOS,
speech onset and silences, word timestamps) and flagged when it breaks a limit;
``filter`` writes a copy without the items a rule rejects.

>>> import ttskit
>>> from ttskit import dataset
>>> table = dataset.generate(
...     ["Hello there.", "How are you?"], ["en-us", "en-gb"], "my_dataset",
...     client=ttskit.local("espeak"), splits={"train": 0.5, "test": 0.5},
... )  # doctest: +SKIP
>>> table.loc[table["suspicious"], ["text", "issues"]]  # doctest: +SKIP
>>> scored = dataset.generate(
...     ["Hello there."], "en-us", "scored", client=ttskit.local("espeak"), quality=True
... )  # doctest: +SKIP
>>> clean = dataset.filter("scored", "wer <= 0.1 and mos_ovrl >= 3", "clean")  # doctest: +SKIP
"""

from .export import export_ljspeech, export_piper
from .filter import filter
from .manifest import load
from .runner import Summary, generate
from .worker import ClientSpec

__all__ = ["ClientSpec", "Summary", "export_ljspeech", "export_piper", "filter", "generate", "load"]
