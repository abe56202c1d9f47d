"""``trialkb --help`` and a mistyped command start fast: they import typer and nothing heavy.

Timing lives in bench/startup_bench.py (``--help`` and a mistyped command <= 5x ``python -c pass``);
this test keeps the reason it holds: the modules such an answer must not pay for.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("rich", "sqlalchemy", "sqlmodel", "sqlparse", "scrapy", "networkx", "numpy", "datasette", "psycopg", "kb.store")


@pytest.mark.parametrize("args, code", [(["--help"], 0), (["shwo"], 2), (["sql", "--help"], 0)])
def test_help_and_a_mistyped_command_import_nothing_heavy(args, code):
    program = ("import sys, json; from apps.cli import main; sys.argv = ['trialkb', *%r]\n"
               "try:\n    main()\nexcept SystemExit as e:\n    status = e.code\n"
               "print(json.dumps([status, sorted(m for m in %r if m in sys.modules)]), file=sys.stderr)") % (args, HEAVY)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert json.loads(done.stderr.strip().splitlines()[-1]) == [code, []]
