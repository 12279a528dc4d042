"""``python -m dioptra_plugins`` runs the CLI."""

from dioptra_plugins.cli.entry import main

main()
