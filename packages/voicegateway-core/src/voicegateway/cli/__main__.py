import sys

from voicegateway.cli import main

sys.exit(main())
