"""The one test harness of tests/system and tests/net (tests/conftest.py
puts tests/ on sys.path, so `from harness import X` works in both):

  harness.util    waiting with a deadline, HTTP, exact JSON, ports per
                  xdist worker, process logs, the initial stocks
  harness.wire    msgpack and the journal files: records, bytes, comparisons
  harness.zmtp    a ZMTP 3.0 peer and the frames tests forge; a fake
                  catalog publisher
  harness.procs   child processes whose output a test waits on
  harness.browser headless Chromium: rendered DOM, screenshots
  harness.bazaar  one whole system on loopback (Bazaar), an extra replica,
                  bazaar-client verify runs

Test modules import from here, never from each other.
"""

from harness.util import *      # noqa: F401,F403
from harness.wire import *      # noqa: F401,F403
from harness.zmtp import *      # noqa: F401,F403
from harness.procs import *     # noqa: F401,F403
from harness.bazaar import *    # noqa: F401,F403
from harness.browser import *   # noqa: F401,F403
