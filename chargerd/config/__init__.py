"""Station configuration: one YAML file, validated with errors a technician can act on.

Every error names the file, the line, the key path, what is wrong and what is allowed.
One module per section of the file (`station`, `csms`, `host`: storage/control/reset/log,
`connectors`: connectors/hal, `sim`, `ocpp`); `source` reads YAML with line numbers,
`overrides` applies `--set`, `model` holds `Config` and the list of sections.
"""

from hal.options import DeviceConfig

from .connectors import ConnectorConfig
from .csms import OCPP_VERSIONS, CsmsConfig
from .host import LOG_LEVELS, StorageConfig
from .loader import ConfigError, load_config
from .model import Config
from .sim import SimConfig
from .station import StationInfo

__all__ = [
    "LOG_LEVELS",
    "OCPP_VERSIONS",
    "Config",
    "ConfigError",
    "ConnectorConfig",
    "CsmsConfig",
    "DeviceConfig",
    "SimConfig",
    "StationInfo",
    "StorageConfig",
    "load_config",
]
