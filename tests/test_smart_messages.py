"""Smart-charging messages ↔ the engine's profiles: translation and the statuses and reason
codes of profiles the station refuses (OCPP 1.6 Smart Charging, 2.0.1 block K)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chargerd.ocpp16 import smart as s16
from chargerd.ocpp201 import charging_profiles as s201
from chargerd.ocpp201.charging_profiles import wire_profile
from chargerd.rpc import OCPP16, OCPP201, _Refusal, check_payload
from chargerd.smart.profiles import Kind, LimitPeriod, Purpose, Rejection

LIMITS = s16.Limits(max_stack_level=8, max_periods=24, units=frozenset({"A", "W"}))
T0 = datetime(2025, 3, 5, 21, 0, tzinfo=UTC).timestamp()


def profile16(**changes: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "chargingProfileId": 7,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": "2025-03-05T21:00:00Z",
            "duration": 300,
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 12.0},
                {"startPeriod": 120, "limit": 20.0, "numberPhases": 1},
            ],
        },
    }
    wire.update(changes)
    return wire


def profile201(**changes: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "id": 7,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 70,
                "chargingRateUnit": "A",
                "startSchedule": "2025-03-05T21:00:00Z",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
            }
        ],
    }
    wire.update(changes)
    return wire


def schedule_change(wire: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**wire, "chargingSchedule": {**wire["chargingSchedule"], **changes}}


# --- OCPP 1.6 -------------------------------------------------------------------------------


def test_16_tx_default_profile_becomes_the_engines_profile():
    p = s16.profile_from_wire(profile16(), 1, LIMITS)
    assert (p.id, p.stack_level, p.purpose, p.kind, p.connector) == (
        7,
        1,
        Purpose.TX_DEFAULT,
        Kind.ABSOLUTE,
        1,
    )
    assert p.schedule.start == T0
    assert p.schedule.duration_s == 300
    assert [(x.start_s, x.limit, x.number_phases) for x in p.schedule.periods] == [
        (0, 12.0, None),
        (120, 20.0, 1),
    ]
    assert p.transaction_id is None and p.source == "CSO"


def test_16_charge_point_max_profile_is_the_station_maximum_on_connector_0_only():
    wire = profile16(chargingProfilePurpose="ChargePointMaxProfile")
    assert s16.profile_from_wire(wire, 0, LIMITS).purpose is Purpose.STATION_MAX
    with pytest.raises(s16.Invalid, match="connector 0"):
        s16.profile_from_wire(wire, 1, LIMITS)


def test_16_tx_profile_is_bound_to_the_stations_transaction():
    wire = profile16(chargingProfilePurpose="TxProfile", transactionId=12)
    p = s16.profile_from_wire(wire, 2, LIMITS, "tx-uuid")
    assert p.purpose is Purpose.TX and p.transaction_id == "tx-uuid"
    with pytest.raises(s16.Invalid):
        s16.profile_from_wire(wire, 0, LIMITS, "tx-uuid")


def test_16_relative_profile_counts_from_the_transaction_not_a_start_schedule():
    p = s16.profile_from_wire(profile16(chargingProfileKind="Relative"), 1, LIMITS)
    assert p.kind is Kind.RELATIVE and p.schedule.start is None


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (profile16(stackLevel=9), "stack level"),
        (profile16(chargingProfileKind="Recurring"), "recurrencyKind"),
        (
            schedule_change(
                profile16(chargingProfileKind="Recurring", recurrencyKind="Daily"),
                startSchedule=None,
            ),  # fmt: skip
            "startSchedule",
        ),
        (
            schedule_change(profile16(), chargingSchedulePeriod=[{"startPeriod": 5, "limit": 6}]),
            "start at 0",
        ),
        (
            schedule_change(
                profile16(),
                chargingSchedulePeriod=[
                    {"startPeriod": 0, "limit": 6},
                    {"startPeriod": 0, "limit": 8},
                ],
            ),
            "ascending",
        ),
        (
            schedule_change(
                profile16(),
                chargingSchedulePeriod=[{"startPeriod": n, "limit": 6} for n in range(25)],
            ),
            "at most 24",
        ),
        (schedule_change(profile16(), chargingSchedulePeriod=[]), "at least one period"),
        (schedule_change(profile16(), startSchedule="yesterday"), "not a date"),
        (profile16(validFrom="2025-03-06T00:00:00Z", validTo="2025-03-05T00:00:00Z"), "validTo"),
    ],
)
def test_16_invalid_profiles_are_refused_with_a_reason(wire: dict[str, Any], why: str):
    if wire["chargingSchedule"].get("startSchedule", "") is None:
        del wire["chargingSchedule"]["startSchedule"]
    with pytest.raises(s16.Invalid, match=why):
        s16.profile_from_wire(wire, 1, LIMITS)


def test_16_a_unit_the_key_does_not_allow_is_refused():
    current_only = s16.limits_from_keys(
        {
            "ChargeProfileMaxStackLevel": 8,
            "ChargingScheduleMaxPeriods": 24,
            "ChargingScheduleAllowedChargingRateUnit": "Current",
        }
    )
    assert current_only.units == {"A"}
    with pytest.raises(s16.Invalid, match="unit W"):
        s16.profile_from_wire(schedule_change(profile16(), chargingRateUnit="W"), 1, current_only)


def test_16_malformed_fields_the_schema_lets_through_are_refused_not_raised():
    wire = schedule_change(profile16(), chargingSchedulePeriod=[{"startPeriod": 0}])
    with pytest.raises(s16.Invalid, match="malformed"):
        s16.profile_from_wire(wire, 1, LIMITS)
    with pytest.raises(s16.Invalid, match="malformed"):
        s16.profile_from_wire({"chargingProfileId": 1}, 1, LIMITS)


def test_16_composite_answer_has_a_period_and_passes_the_schema():
    periods = [LimitPeriod(0, 11.1, "csms"), LimitPeriod(110, 20.0, "csms")]
    answer = s16.composite_answer(1, periods, T0, 600, "A")
    check_payload(OCPP16, "GetCompositeSchedule", answer, response=True)
    assert answer["scheduleStart"] == "2025-03-05T21:00:00.000Z"
    assert answer["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 11.1},
        {"startPeriod": 110, "limit": 20.0},
    ]
    with pytest.raises(ValueError):
        s16.composite_answer(1, [], T0, 600, "A")


def test_16_limits_in_tenths_pass_the_schema_check_of_requests():
    """multipleOf 0.1 with binary floats refused 11.1; the station must take it."""
    wire = schedule_change(profile16(), chargingSchedulePeriod=[{"startPeriod": 0, "limit": 11.1}])
    check_payload(OCPP16, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": wire},
                  response=False)  # fmt: skip
    wire = schedule_change(profile16(), chargingSchedulePeriod=[{"startPeriod": 0, "limit": 1.15}])
    with pytest.raises(_Refusal):
        check_payload(OCPP16, "SetChargingProfile",
                      {"connectorId": 1, "csChargingProfiles": wire}, response=False)  # fmt: skip


# --- OCPP 2.0.1 -----------------------------------------------------------------------------


def refusal(wire: dict[str, Any], evse: int = 1) -> tuple[str, str]:
    with pytest.raises(s16.Invalid) as caught:
        s201.profile_from_wire(wire, evse, LIMITS)
    code, text = caught.value.args
    return code, text


def test_201_profile_becomes_the_engines_profile():
    p = s201.profile_from_wire(profile201(), 2, LIMITS)
    assert (p.id, p.purpose, p.connector, p.schedule.start) == (7, Purpose.TX_DEFAULT, 2, T0)


def test_201_external_constraints_from_the_csms_are_rejected():
    code, _ = refusal(profile201(chargingProfilePurpose="ChargingStationExternalConstraints"))
    assert code == "InvalidProfile"


def test_201_station_maximum_only_on_evse_0_and_never_relative():
    wire = profile201(chargingProfilePurpose="ChargingStationMaxProfile")
    assert s201.profile_from_wire(wire, 0, LIMITS).purpose is Purpose.STATION_MAX
    assert refusal(wire, 1)[0] == "InvalidProfile"
    relative = {**wire, "chargingProfileKind": "Relative"}
    relative["chargingSchedule"] = [
        {k: v for k, v in wire["chargingSchedule"][0].items() if k != "startSchedule"}
    ]
    assert refusal(relative, 0)[0] == "InvalidProfile"


def test_201_absolute_needs_a_start_schedule_and_relative_must_not_have_one():
    no_start = profile201()
    del no_start["chargingSchedule"][0]["startSchedule"]
    assert refusal(no_start)[0] == "InvalidSchedule"
    assert refusal(profile201(chargingProfileKind="Relative"))[0] == "InvalidSchedule"


def test_201_tx_profile_needs_a_transaction_id():
    assert refusal(profile201(chargingProfilePurpose="TxProfile"))[0] == "TxNotFound"
    p = s201.profile_from_wire(
        profile201(chargingProfilePurpose="TxProfile", transactionId="tx-1"), 1, LIMITS
    )
    assert p.transaction_id == "tx-1"
    assert refusal(profile201(transactionId="tx-1"))[0] == "InvalidProfile"


def test_201_unit_and_stack_level_beyond_the_controller_are_rejected():
    only_a = s16.Limits(8, 24, frozenset({"A"}))
    wire = profile201()
    wire["chargingSchedule"][0]["chargingRateUnit"] = "W"
    with pytest.raises(s16.Invalid) as caught:
        s201.profile_from_wire(wire, 1, only_a)
    assert caught.value.args[0] == "UnsupportedRateUnit"
    assert refusal(profile201(stackLevel=9))[0] == "InvalidStackLevel"


def test_201_malformed_profile_is_rejected_not_raised():
    wire = profile201()
    wire["chargingSchedule"][0]["chargingSchedulePeriod"] = [{"startPeriod": 0, "limit": "x"}]
    assert refusal(wire)[0] == "InvalidProfile"


def test_201_engine_reasons_map_to_reason_codes():
    assert s201.reason_code(Rejection.NO_TRANSACTION) == "TxNotFound"
    assert s201.reason_code(Rejection.STACK_LEVEL) == "InvalidStackLevel"
    assert s201.reason_code(Rejection.UNKNOWN_CONNECTOR) == "UnknownEvse"
    assert all(len(s201.reason_code(r)) <= 20 for r in Rejection)


def test_201_reported_profile_passes_the_schema_and_round_trips():
    tx = profile201(chargingProfilePurpose="TxProfile", transactionId="tx-1",
                    validTo="2025-03-06T00:00:00Z")  # fmt: skip
    p = s201.profile_from_wire(tx, 1, LIMITS)
    wire = wire_profile(p)
    report = {"requestId": 1, "chargingLimitSource": "CSO", "evseId": 1, "chargingProfile": [wire]}
    check_payload(OCPP201, "ReportChargingProfiles", report, response=False)
    assert s201.profile_from_wire(wire, 1, LIMITS) == p
