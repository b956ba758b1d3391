import sys

from local.emulator.server import main

sys.exit(main())
