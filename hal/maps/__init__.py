"""Device register maps kept as data (YAML shipped in this package), and their loader."""

from hal.maps.loader import MeterMap, ReadBlock, RegisterValue, load_meter_map, meter_models

__all__ = ["MeterMap", "ReadBlock", "RegisterValue", "load_meter_map", "meter_models"]
