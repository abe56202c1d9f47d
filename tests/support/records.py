"""Many real records under new ids: input large enough to interrupt, to stream, to measure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path


def renumbered(folder: Path, count: int, pattern: str = "NCT*.json") -> Iterator[dict]:
    """``count`` studies cycling through the records under ``folder``, the n-th as ``NCT9`` + n (7 digits)."""
    records = [json.loads(p.read_text()) for p in sorted(folder.rglob(pattern))]
    for n in range(count):
        study = records[n % len(records)]
        study["protocolSection"]["identificationModule"]["nctId"] = f"NCT9{n:07d}"
        yield study


def write_jsonl(path: Path, studies: Iterator[dict]) -> Path:
    """The studies as one JSON Lines file at ``path``."""
    with path.open("w") as out:
        for study in studies:
            out.write(json.dumps(study) + "\n")
    return path
