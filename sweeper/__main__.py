from sweeper.command import main

main()
