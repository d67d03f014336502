from sweeper.cli.command import main

main()
