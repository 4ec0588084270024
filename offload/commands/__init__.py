"""One module per ``offload`` subcommand: ``HELP``, ``add_arguments(parser)``, ``run(args)``."""
