import sys

from local.emulator.cli import main

sys.exit(main())
