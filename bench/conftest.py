import sys
from pathlib import Path

# bench/ modules (baselines) import each other by name.
sys.path.insert(0, str(Path(__file__).parent))
