"""OCPP 1.6 configuration keys as the adapter keeps them: loaded from the store and the YAML,
mapped onto the core's settings, changed by ChangeConfiguration and `chargerctl ocpp set`,
read by GetConfiguration and `chargerctl ocpp get`. A part of `Ocpp16Adapter` (a mixin)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..config import Config
from ..core.model import CoreSettings
from ..store import Store
from . import keys as K

if TYPE_CHECKING:
    from .security import Security16

log = logging.getLogger("chargerd.ocpp16")

MAX_VALUE_LENGTH = 500  # ChangeConfiguration.req value: CiString500


class ConfigurationKeys:
    # what the adapter provides
    config: Config
    store: Store
    keys: dict[str, bool | int | str]
    settings: CoreSettings
    if TYPE_CHECKING:  # declared only: the adapter's own must not be shadowed

        @property
        def security(self) -> Security16: ...

        def heartbeat_changed(self) -> None: ...

    def _load_keys(self) -> dict[str, bool | int | str]:
        """Stored values win; a YAML value wins only when it differs from what it seeded."""
        stored = self.store.settings()
        values: dict[str, bool | int | str] = {}
        for key in K.KEYS:
            value: bool | int | str = key.default
            if key.name in stored:
                value = stored[key.name][0]
            if key.writable and key.name in self.config.ocpp:
                from_yaml = K.parse(key, self.config.ocpp[key.name])
                if key.name not in stored or stored[key.name][1] != from_yaml:
                    self.store.put_setting(key.name, from_yaml, seeded=from_yaml)
                    value = from_yaml
            values[key.name] = value
        values["NumberOfConnectors"] = len(self.config.connectors)
        return values

    def _apply_keys(self) -> None:
        k, s = self.keys, self.settings
        s.connection_timeout_s = int(k["ConnectionTimeOut"])
        s.stop_on_ev_disconnect = bool(k["StopTransactionOnEVSideDisconnect"])
        s.unlock_on_ev_disconnect = bool(k["UnlockConnectorOnEVSideDisconnect"])
        s.local_pre_authorize = bool(k["LocalPreAuthorize"])
        s.local_authorize_offline = bool(k["LocalAuthorizeOffline"])
        s.allow_offline_unknown_id = bool(k["AllowOfflineTxForUnknownId"])
        s.authorize_remote_start = bool(k["AuthorizeRemoteTxRequests"])
        s.stop_on_invalid_id = bool(k["StopTransactionOnInvalidId"])
        s.max_energy_on_invalid_id_wh = int(k["MaxEnergyOnInvalidId"])
        s.auth_cache_enabled = bool(k["AuthorizationCacheEnabled"])
        s.local_auth_list_enabled = bool(k["LocalAuthListEnabled"])
        s.sample_interval_s = int(k["MeterValueSampleInterval"])
        s.aligned_interval_s = int(k["ClockAlignedDataInterval"])
        s.reserve_any_connector = bool(k["ReserveConnectorZeroSupported"])
        # YAML auth.free: the EV's arrival authorizes auth.id_tag
        s.free_id_tag = self.config.auth.id_tag if self.config.auth.free else None

    def _measurands(self, key: str) -> list[str]:
        return [m for m in str(self.keys[key]).split(",") if m]

    def _set_key(self, name: str, value: bool | int | str) -> None:
        self.keys[name] = value
        self.store.put_setting(name, value)
        self._apply_keys()
        if name == "HeartbeatInterval":
            self.heartbeat_changed()

    def _change_configuration(
        self, name: str, value: str, by: str = "the CSMS"
    ) -> tuple[str, str | None]:
        """(ConfigurationStatus, why when not Accepted/RebootRequired)."""
        key = K.find(name)
        if key is None:
            return "NotSupported", "no such configuration key"
        name = key.name
        if not key.writable:
            return "Rejected", "read-only"
        shown = "***" if key.write_only else repr(value)  # secrets never reach a log
        if name in K.CREDENTIALS:
            status, why = self.security.change_key(name, value)
            log.info("ChangeConfiguration %s=%s by %s: %s %s", name, shown, by, status, why or "")
            return status, why
        try:
            parsed = K.parse(key, value)
        except ValueError as exc:
            log.info("ChangeConfiguration %s=%s by %s rejected: %s", name, shown, by, exc)
            return "Rejected", str(exc)
        self._set_key(name, parsed)
        log.info("configuration %s set to %s by %s", name, K.to_wire(parsed), by)
        return ("RebootRequired" if key.reboot else "Accepted"), None

    def _get_configuration(self, names: list[str] | None) -> dict[str, Any]:
        wanted = names if names else [k.name for k in K.KEYS]
        known, unknown = [], []
        for name in wanted:
            key = K.find(name)
            if key is None:
                unknown.append(name)
                continue
            entry: dict[str, Any] = {"key": key.name, "readonly": not key.writable}
            if not key.write_only:
                entry["value"] = K.to_wire(self.keys[key.name])[:500]
            known.append(entry)
        answer: dict[str, Any] = {"configurationKey": known}
        if unknown:
            answer["unknownKey"] = unknown
        return answer

    def ocpp_get(self, key: str) -> str:
        found = K.find(key)
        if found is None:
            raise ValueError(f"{key}: no such OCPP 1.6 configuration key")
        shown = "(write-only)" if found.write_only else K.to_wire(self.keys[found.name])
        return f"{found.name} = {shown}" + ("" if found.writable else "  (read-only)")

    def ocpp_set(self, key: str, value: str) -> str:
        if len(value) > MAX_VALUE_LENGTH:  # the CSMS's schema checks this one
            raise ValueError(f"{key}: Rejected: longer than {MAX_VALUE_LENGTH} characters")
        status, why = self._change_configuration(key, value, by="chargerctl")
        if why is not None:
            raise ValueError(f"{key}: {status}: {why}")
        found = K.find(key)
        assert found is not None
        shown = "***" if found.write_only else K.to_wire(self.keys[found.name])
        return f"{found.name} = {shown}  ({status})"
