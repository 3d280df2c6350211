"""One module per CLI command (see ml/cli.py for the contract)."""
