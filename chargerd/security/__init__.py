"""Security: the certificate store, the station's key pair and CSR, chain checks, the TLS
context of the link, the credentials the CSMS may change, and the security events.

Version-neutral: the OCPP adapters translate messages to and from these (ocpp16/security.py,
ocpp201/security.py). The daemon reads certificates with the standard library
(certificate.py); what needs `cryptography` (chain.py, keys.py's CSR and CertificateSigned
checks) runs in the worker process (worker.py, operations.py), so that library never lands
in the daemon's memory.
"""
