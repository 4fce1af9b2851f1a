"""Security: the certificate store, the station's key pair and CSR, chain checks, the TLS
context of the link, the credentials the CSMS may change, and the security events.

Version-neutral: the OCPP adapters translate messages to and from these (ocpp16/security.py,
ocpp201/security.py). Modules that need `cryptography` import it themselves; this package
is imported only when the daemon builds its "security" part, and the heavy modules only
when a certificate is touched, so the daemon's cold start does not pay for them.
"""
