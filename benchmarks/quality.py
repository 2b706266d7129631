"""Quality figures, measured in one run on the embedded server's engines.

1. Intelligibility on 20 fixed sentences (numbers, names, questions): Piper joe's WER
   (target <= 0.05), eSpeak NG's (target: higher), and Piper's audio scored against the
   wrong text (target >= 0.5, every item flagged).
2. Naturalness: ``mos_ovrl`` of clean audio minus the same audio with white noise at
   20 dB SNR (target >= 0.3).
3. Onset: 0.5 s of silence put before the audio moves ``speech_onset_s`` by 0.5 s
   (target within 30 ms).
4. Word timestamps: Piper's own, and the same shifted by +300 ms; the reported median
   offset (targets: the shift within 30 ms; the unshifted within 50 ms). Then the same on
   sentences with prices, counts, ordinals, times, abbreviations and a word the dictionary
   lacks, for Piper and eSpeak NG: coverage (target >= 0.8) and the p50/p95 offsets.
5. Speed: audio seconds scored per CPU second for ASR + VAD (target >= 10), and for MOS.
6. Memory: resident memory after N scored items over after 10 (target within 50 MB).

Piper's audio differs a little from one run of this script to the next (the same within a
run), and so does its WER.

Run ``python benchmarks/quality.py`` (``--items N`` for the memory run, ``--memory-metrics``
for what it scores).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import ttskit  # noqa: E402
from ttskit import quality  # noqa: E402
from ttskit.results import Speech  # noqa: E402

SENTENCES = [
    "The train leaves at seven fifteen from platform nine.",
    "Doctor Patel will see you on Tuesday morning.",
    "Is the library open on Sunday afternoons?",
    "We sold two hundred and forty tickets last week.",
    "Maria and James moved to Chicago in March.",
    "How much does the blue jacket cost?",
    "Please call me back before five o'clock.",
    "The meeting was moved to the second floor.",
    "Can you send the report to Emily by Friday?",
    "There are twelve eggs left in the fridge.",
    "Where did you park the car this morning?",
    "Professor Nakamura teaches physics at the university.",
    "The package weighs about three kilograms.",
    "Did Oliver finish his homework yesterday?",
    "Our flight to London was delayed by an hour.",
    "Turn left at the second traffic light.",
    "Why is the kitchen window still open?",
    "Sarah bought fifteen apples at the market.",
    "The temperature dropped to minus ten degrees overnight.",
    "Would you like tea or coffee with breakfast?",
]

NUMBER_SENTENCES = [
    "Dr. Smith paid $42.50 for 3 books on May 5th.",
    "The price rose 12% to $1,250 in 2024.",
    "Meet Mrs. Jones at 3:30 on 21st St. near gate 7.",
    "Mr. Lee scored 98.6 points and won $3 on the 2nd try.",
    "I installed ttskit and ran it 15 times.",
    "The 1st of June costs $0.99 and 4.5 kilograms weigh 10 pounds.",
]


def speak_all(model: str, voice: str | None, texts: list[str] = SENTENCES) -> list[Speech]:
    client = ttskit.local(model)
    return [client.speak(text, voice=voice, alignment="word") for text in texts]


def with_audio(speech: Speech, audio: np.ndarray, *, shift_s: float = 0.0) -> Speech:
    words = speech.words.assign(start=speech.words.start + shift_s, end=speech.words.end + shift_s)
    return Speech(audio=audio, sample_rate=speech.sample_rate, words=words, text=speech.text)


def noisy(audio: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(len(audio)).astype(np.float32)
    power = float(np.mean(audio**2))
    noise *= np.sqrt(power / 10 ** (snr_db / 10) / float(np.mean(noise**2)))
    return np.clip(audio + noise, -1, 1).astype(np.float32)


def line(name: str, value: float, target: str, ok: bool) -> None:
    print(f"{name:<58} {value:>9.3f}   target {target:<14} {'PASS' if ok else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--memory-metrics", default="wer,vad,timestamps")
    parser.add_argument("--mos-items", type=int, default=6)
    options = parser.parse_args()

    piper = speak_all("piper", "joe")
    espeak = speak_all("espeak", None)
    scorer = quality.Scorer(["wer", "vad"])
    timed_audio_s = sum(s.duration for s in piper)
    scorer(piper[0])  # the first call's one-time costs are not the rate
    start = time.process_time()
    piper_scores = scorer.many(piper, progress=False)
    asr_vad_cpu = time.process_time() - start
    espeak_scores = scorer.many(espeak, progress=False)
    wrong = scorer.many(piper, text=SENTENCES[1:] + SENTENCES[:1], progress=False)

    asr = scorer.provenance["asr"]
    print(f"quality figures, {len(SENTENCES)} sentences; ASR {asr['model']} ({asr['decoding']})")
    line(
        "1. Piper joe WER (mean)",
        piper_scores.wer.mean(),
        "<= 0.05",
        piper_scores.wer.mean() <= 0.05,
    )
    line(
        "   eSpeak NG WER (mean)",
        espeak_scores.wer.mean(),
        "> Piper's",
        espeak_scores.wer.mean() > piper_scores.wer.mean(),
    )
    line("   wrong text WER (min)", wrong.wer.min(), ">= 0.5", wrong.wer.min() >= 0.5)
    line(
        "   wrong text flagged (share)",
        wrong.quality_flagged.mean(),
        "1.0",
        bool(wrong.quality_flagged.all()),
    )

    mos = quality.Scorer(["mos"])
    clips = piper[: options.mos_items]
    start = time.process_time()
    clean = mos.many(clips, progress=False)
    mos_cpu = time.process_time() - start
    mos_audio_s = sum(s.duration for s in clips)
    dirty = mos.many(
        [with_audio(s, noisy(s.audio, 20.0, i)) for i, s in enumerate(clips)], progress=False
    )
    drop = float((clean.mos_ovrl - dirty.mos_ovrl).mean())
    line("2. mos_ovrl clean - 20 dB SNR noise (mean)", drop, ">= 0.3", drop >= 0.3)
    print(
        f"   (clean mos_ovrl {clean.mos_ovrl.mean():.2f}, noisy {dirty.mos_ovrl.mean():.2f}; eSpeak NG p808 "
        f"{mos.many(espeak[: options.mos_items], progress=False).mos_p808.mean():.2f} vs Piper {clean.mos_p808.mean():.2f})"
    )

    vad = quality.Scorer(["vad"])
    padded = [
        with_audio(s, np.concatenate([np.zeros(s.sample_rate // 2, np.float32), s.audio]))
        for s in piper
    ]
    moved = (
        vad.many(padded, progress=False).speech_onset_s - piper_scores.speech_onset_s
    ).to_numpy()
    worst = float(np.max(np.abs(moved - 0.5)) * 1000)
    typical = float(np.median(np.abs(moved - 0.5)) * 1000)
    line("3. onset moved by 0.5 s silence: median error, ms", typical, "<= 30", typical <= 30)
    line("   onset moved by 0.5 s silence: worst error, ms", worst, "<= 30", worst <= 30)

    stamps = quality.Scorer(["timestamps"])
    own = stamps.many(piper, progress=False)
    shifted = stamps.many([with_audio(s, s.audio, shift_s=0.3) for s in piper], progress=False)
    reported = float(np.median(shifted.timestamp_offset_p50_ms - own.timestamp_offset_p50_ms))
    line(
        "4. +300 ms shift reported as (median, ms)",
        reported,
        "300 +- 30",
        abs(reported - 300) <= 30,
    )
    line(
        "   shifted timestamps' p50 offset (median, ms)",
        float(shifted.timestamp_offset_p50_ms.median()),
        "300 +- 30",
        abs(float(shifted.timestamp_offset_p50_ms.median()) - 300) <= 30,
    )
    correct = float(own.timestamp_offset_p50_ms.median())
    line(
        "   Piper's own timestamps: p50 offset (median, ms)",
        correct,
        "|x| <= 50",
        abs(correct) <= 50,
    )
    line(
        "   Piper's own timestamps: coverage (mean)",
        float(own.timestamp_coverage.mean()),
        "-",
        True,
    )
    espeak_own = stamps.many(espeak, progress=False)
    print(
        f"   (eSpeak NG's own timestamps: p50 offset {espeak_own.timestamp_offset_p50_ms.median():.1f} ms)"
    )

    for name, voice in (("piper", "joe"), ("espeak", None)):
        numbers = stamps.many(speak_all(name, voice, NUMBER_SENTENCES), progress=False)
        coverage = float(numbers.timestamp_coverage.mean())
        line(
            f"   {name}, sentences with numbers: coverage (mean)",
            coverage,
            ">= 0.8",
            coverage >= 0.8,
        )
        p50 = float(numbers.timestamp_offset_p50_ms.abs().median())
        line(f"   {name}, sentences with numbers: |p50| (median, ms)", p50, "<= 50", p50 <= 50)
        p95 = float(numbers.timestamp_offset_p95_ms.median())
        line(f"   {name}, sentences with numbers: p95 (median, ms)", p95, "reported", True)

    rate = timed_audio_s / asr_vad_cpu
    line("5. ASR + VAD: audio s per CPU s", rate, ">= 10", rate >= 10)
    line("   MOS (P.808 + P.835): audio s per CPU s", mos_audio_s / mos_cpu, "reported", True)

    metrics = options.memory_metrics.split(",")
    memory = quality.Scorer(metrics)
    process = psutil.Process()
    for i in range(10):
        memory(piper[i % len(piper)])
    after_10 = process.memory_info().rss
    for i in range(10, options.items):
        memory(piper[i % len(piper)])
    grown = (process.memory_info().rss - after_10) / 2**20
    line(
        f"6. memory after {options.items} items ({'+'.join(metrics)}) - after 10, MB",
        grown,
        "<= 50",
        grown <= 50,
    )


if __name__ == "__main__":
    main()
