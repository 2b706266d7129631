"""The public names of ttskit.bench."""

from ttskit import bench


def test_public_names():
    assert bench.__all__ == sorted(bench.__all__)
    assert bench.__all__ == [
        "COLUMNS",
        "Objective",
        "TEXTS",
        "TRANSPORTS",
        "Target",
        "UnfairComparison",
        "builtin_texts",
        "compare",
        "knee",
        "load",
        "poisson_schedule",
        "read_texts",
        "report",
        "run",
        "save",
        "stall_count",
        "summary",
        "underruns",
    ]
    assert all(hasattr(bench, name) for name in bench.__all__)
