"""ISA-L's inflate (kb.ingest.sources.inflating) against zlib's, on real records."""

import zlib

import pytest

from kb.ingest import sources
from tests.conftest import CTGOV


@pytest.mark.skipif(sources.inflating is zlib, reason="isal is not installed: zlib itself is used")
@pytest.mark.parametrize("level", [1, 6, 9])
def test_isal_inflates_every_real_record_as_zlib_does(level):
    paths = sorted(CTGOV.glob("*/*.json"))
    assert len(paths) > 40
    for path in paths:
        raw = path.read_bytes()
        packer = zlib.compressobj(level, wbits=-15)
        deflated = packer.compress(raw) + packer.flush()
        assert sources.inflating.decompressobj(-15).decompress(deflated, len(raw) + 1) == raw, path.name
        assert sources.inflating.crc32(raw) == zlib.crc32(raw), path.name
