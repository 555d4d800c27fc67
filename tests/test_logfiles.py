"""Several processes writing logs/pulseguard.log: rotation keeps every line, once and whole."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WRITER = """
import logging, sys
from core.logfiles import SharedRotatingFileHandler
handler = SharedRotatingFileHandler(sys.argv[1], maxBytes=4096, backupCount=500)
handler.setFormatter(logging.Formatter("%(message)s"))
log = logging.getLogger("w")
log.addHandler(handler)
log.setLevel(logging.INFO)
for n in range(int(sys.argv[3])):
    log.info("writer=%s n=%05d %s end", sys.argv[2], n, "x" * 60)
"""


def test_several_writer_processes_rotate_one_file_without_losing_or_splitting_lines(tmp_path):
    path = tmp_path / "pulseguard.log"
    lines_each, writers = 400, 4
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(w), str(lines_each)], cwd=ROOT)
        for w in range(writers)
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    files = [p for p in tmp_path.iterdir() if p.name.startswith("pulseguard.log") and not p.name.endswith(".lock")]
    assert len(files) > 10, "it rotated many times"
    lines = [line for f in files for line in f.read_text().splitlines()]
    assert all(line.startswith("writer=") and line.endswith(" end") for line in lines), "no fragments"
    counts = Counter(lines)
    assert len(counts) == writers * lines_each, "no line lost"
    assert max(counts.values()) == 1, "no line twice"
    assert all(f.stat().st_size <= 4096 for f in files), "each file within the size"
