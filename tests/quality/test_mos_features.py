"""The P.808 model's mel spectrogram, checked against what it must be without librosa."""

from __future__ import annotations

import numpy as np

from ttskit.audio import sine
from ttskit.quality.mos import N_MELS, mel_db


def test_a_tone_lights_the_mel_band_of_its_frequency():
    low = mel_db(sine(300.0, duration=1.0, sample_rate=16000))
    high = mel_db(sine(3000.0, duration=1.0, sample_rate=16000))
    assert low.shape == (100, N_MELS)  # as librosa, centred: 1 + (16000 + 320 - 321) // 160
    assert np.argmax(low[50]) < np.argmax(high[50])
    assert low.max() == np.float32(1.0)  # 0 dB at the peak, scaled as (dB + 40) / 40
    assert low.min() >= -1.0  # 80 dB below the peak at most
