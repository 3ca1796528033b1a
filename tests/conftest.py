import sys
from pathlib import Path

# Let tests import the shared helper module ``fixtures`` regardless of the rootdir.
sys.path.insert(0, str(Path(__file__).resolve().parent))
