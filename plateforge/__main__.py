from plateforge.cli.app import main

main()
