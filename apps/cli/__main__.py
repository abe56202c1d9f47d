"""``python -m apps.cli``: the trialkb command."""

from apps.cli import main

main()
