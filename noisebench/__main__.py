from noisebench.cli import main

main()
