from sweeper.bench.core import main

main()
