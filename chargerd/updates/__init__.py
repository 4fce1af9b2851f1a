"""Firmware updates: a sans-I/O state machine (`machine`), the transfers (`transfer`), the
signature check (`verify`), the installers (`installer`), the running version (`version`)
and the daemon's part that carries the machine's decisions out (`part`, parts["updates"])."""
