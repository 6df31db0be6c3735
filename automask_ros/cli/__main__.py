"""`python -m automask_ros.cli ...` (and `torchrun -m automask_ros.cli train ...`)."""
import sys

from . import main

sys.exit(main())
