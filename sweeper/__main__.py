from sweeper.app import cli

cli()
