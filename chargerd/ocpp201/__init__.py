"""OCPP 2.0.1 adapter: device model, TransactionEvent sequencing, local list, requests."""
