from retrofit.cli import main

main()
