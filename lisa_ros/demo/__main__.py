"""``python -m lisa_ros.demo`` (what ``make demo`` runs)."""
import sys

from lisa_ros.demo import main

sys.exit(main())
