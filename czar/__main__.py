from czar.server import main

main()
