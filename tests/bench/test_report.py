"""``bench.report``: a self-contained page, even of a run in which nothing succeeded."""

from __future__ import annotations

import socket

from ttskit import bench

from .conftest import SHORT


def test_a_run_where_every_request_failed_still_gets_a_report(tmp_path):
    with socket.socket() as unused:  # a port nothing listens on: every request is refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    df = bench.run(
        (f"http://127.0.0.1:{port}/v1", "espeak", "en-us"),
        SHORT[:1],
        repeats=1,
        concurrency=[1, 2],
        transports=["rest"],
        progress=False,
    )
    assert set(df["error"]) == {"ConnectError"}
    page = bench.report(df, tmp_path / "report.html")
    assert "3 requests (1 warm-up), 3 failed or silent" in page
    assert page.count("data:image/png;base64,") == 1  # the load curve, empty but titled
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == page
    assert "ConnectError" in page
