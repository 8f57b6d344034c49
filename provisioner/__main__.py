"""Allow ``python -m provisioner``."""

from provisioner._cli import main

main()
