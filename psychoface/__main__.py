from psychoface.cli import main

main()
