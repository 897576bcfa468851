from repurpose.cli import main

main()
