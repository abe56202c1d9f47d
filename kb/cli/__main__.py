"""``python -m kb.cli``: the trialkb command."""

from kb.cli import main

main()
