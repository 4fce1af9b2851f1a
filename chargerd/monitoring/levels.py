"""The monitoring bases and the most severe level (OCPP 2.0.1 N03/N04): shared by the
monitors (monitors.py) and the device model's MonitoringCtrlr variables, which are read at
every 2.0.1 start (ocpp201/monitoring_variables.py) while the monitors are not."""

BASES = ("All", "FactoryDefault", "HardWiredOnly")
MAX_SEVERITY = 9
