from worker.service import main

main()
