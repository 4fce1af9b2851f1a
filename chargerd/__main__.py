import gc
import sys

# Start-up imports a few hundred modules; the cyclic GC would walk them again and again
# (~8 % of the start). The runner turns it back on once the station is up.
gc.disable()

from .cli import main  # noqa: E402

sys.exit(main())
