"""Puts tests/ on sys.path so that tests/system and tests/net import the
shared harness package (tests/harness) as `harness`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
