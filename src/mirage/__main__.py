"""`python -m mirage` is the `mirage` command."""

from mirage.cli import main

main()
