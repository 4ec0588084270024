"""One module per ``offload`` subcommand: ``add_arguments(parser)`` and ``run(args)`` (its one-line
help is in ``offload.cli.COMMANDS``)."""
