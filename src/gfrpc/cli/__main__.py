import sys

from gfrpc.cli import main

sys.exit(main())
