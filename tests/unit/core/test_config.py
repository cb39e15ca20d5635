from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.config import ConfigError, load_config, parse_config


def test_shipped_config_is_valid() -> None:
    config = load_config()
    assert config.clients, "the shipped configuration should describe the demo clients"


def test_errors_name_the_bad_key() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"clients": {"ACME": {"plan": {"prices": [{"from": "2023-04", "unit_price": "abc"}]}}}})
    assert "clients.ACME.plan.prices.0.unit_price" in str(err.value)


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ConfigError, match="defaults.status_mapp"):
        parse_config({"defaults": {"status_mapp": {}}})


def test_a_status_cannot_be_both_active_and_inactive() -> None:
    with pytest.raises(ConfigError, match="both active and inactive"):
        parse_config({"defaults": {"status_map": {"active": ["on"], "inactive": ["on"]}}})


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read billing configuration"):
        load_config(tmp_path / "nope.yaml")


def test_prices_are_effective_dated_and_decimal() -> None:
    config = parse_config(
        {"clients": {"ACME": {"plan": {"prices": [{"from": "2023-04", "unit_price": "100.00"},
                                                  {"from": "2023-07", "unit_price": "120.50"}]}}}}
    )
    plan = config.clients["ACME"].plan
    assert plan.unit_price(BillingMonth(2023, 6)) == Decimal("100.00")
    assert plan.unit_price(BillingMonth(2023, 7)) == Decimal("120.50")
    with pytest.raises(ConfigError, match="no price in force"):
        plan.unit_price(BillingMonth(2023, 3))


def test_per_client_status_map_falls_back_to_defaults() -> None:
    config = parse_config({"clients": {"ACME": {"status_map": {"active": ["enabled"], "inactive": ["disabled"]}}}})
    assert config.status_map("ACME").lookup() == {"enabled": "active", "disabled": "inactive"}
    assert config.status_map("OTHER").lookup() == {"active": "active", "inactive": "inactive"}


def test_preview_defaults_and_per_client_settings_fall_back_key_by_key() -> None:
    config = parse_config({
        "defaults": {"preview": {"days_before": 5}},
        "clients": {"OFF": {"preview": {"enabled": False}}, "SOON": {"preview": {"days_before": 1}}},
    })
    assert (config.preview("OTHER").enabled, config.preview("OTHER").days_before) == (True, 5)
    assert (config.preview("OFF").enabled, config.preview("OFF").days_before) == (False, 5)
    assert (config.preview("SOON").enabled, config.preview("SOON").days_before) == (True, 1)
    assert parse_config({}).preview("X").days_before == 3


def test_preview_days_are_bounded() -> None:
    with pytest.raises(ConfigError, match="clients.X.preview.days_before"):
        parse_config({"clients": {"X": {"preview": {"days_before": 0}}}})


def test_the_deadline_margin_defaults_to_12_hours_and_is_bounded() -> None:
    assert parse_config({}).deadline.after_invoice_day_hours == 12
    assert parse_config({"deadline": {"after_invoice_day_hours": 36}}).deadline.after_invoice_day_hours == 36
    with pytest.raises(ConfigError, match="deadline.after_invoice_day_hours"):
        parse_config({"deadline": {"after_invoice_day_hours": 0}})


def test_calendars_are_the_default_and_each_clients_own_once() -> None:
    config = parse_config({"clients": {
        "A": {"calendar": {"country": "IN"}},
        "B": {"calendar": {"country": "IN"}},
        "C": {"cc": ["c@x.example"]},
    }})
    assert [c.country for c in config.calendars()] == ["BD", "IN"]


def test_the_vat_basis_printed_beside_the_rate() -> None:
    """A non-standard rate prints its configured basis; the standard 15% names its law by itself;
    an unexplained other rate prints nothing rather than a wrong basis."""
    from include.dms_billing.core.config import DEFAULT_CONFIG, load_config, parse_config

    prices = [{"from": "2023-04", "unit_price": "100.00"}]
    plans = parse_config({"clients": {
        "STD": {"plan": {"prices": prices}},
        "LOW": {"plan": {"prices": prices, "vat_rate": "0.05"}},
        "OWN": {"plan": {"prices": prices, "vat_rate": "0.075", "vat_basis": "reduced rate, SRO 123"}},
    }})
    assert plans.plan("STD").vat_basis_text().startswith("standard rate, section 15 of the Value Added Tax")
    assert plans.plan("LOW").vat_basis_text() == ""
    assert plans.plan("OWN").vat_basis_text() == "reduced rate, SRO 123"
    assert "Third Schedule" in load_config(DEFAULT_CONFIG).plan("KARNAPHULI").vat_basis_text()


def _load(tmp_path: Path, data: dict) -> None:
    """The configuration file as the run loads it when it starts."""
    path = tmp_path / "billing.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    load_config(path)


# README, Configuration: the BIN is 13 digits, printed 9-4 as 004563218-0101.
NOT_A_BIN = ["12345", "00456321801011", "004563218-010", "0045632-180101", "004563218 0101", "00456321B0101",
             "004563218-0101\n"]


@pytest.mark.parametrize("value", NOT_A_BIN)
@pytest.mark.parametrize("key", ["issuer.bin", "clients.ACME.bin"])
def test_a_bin_not_of_13_digits_is_refused_on_load_naming_its_key(tmp_path: Path, key: str, value: str) -> None:
    data = {"issuer": {"bin": value}} if key == "issuer.bin" else {"clients": {"ACME": {"bin": value}}}
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, data)
    assert f"{key}: " in str(refused.value) and "13 digits" in str(refused.value)


@pytest.mark.parametrize("value", ["004563218-0101", "0045632180101"])
def test_a_bin_of_13_digits_is_accepted_as_printed_or_plain(tmp_path: Path, value: str) -> None:
    _load(tmp_path, {"issuer": {"bin": value}, "clients": {"ACME": {"bin": value}}})


# ISO 4217 minor units: taka and dollar 2 decimals, yen none, Kuwaiti dinar 3.
@pytest.mark.parametrize(("currency", "fine", "exact"), [
    ("BDT", "150.005", "150.50"), ("USD", "9.999", "10.0"), ("JPY", "100.5", "100"), ("KWD", "1.0005", "1.005"),
])
def test_a_unit_price_finer_than_the_currencys_minor_unit_is_refused_on_load(
    tmp_path: Path, currency: str, fine: str, exact: str
) -> None:
    prices = [{"from": "2023-04", "unit_price": exact}, {"from": "2023-07", "unit_price": fine}]
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, {"clients": {"ACME": {"plan": {"currency": currency, "prices": prices}}}})
    message = str(refused.value)
    assert "clients.ACME.plan: " in message and f"prices.1.unit_price {fine}" in message
    assert "prices.0" not in message and "minor unit" in message
    _load(tmp_path, {"clients": {"ACME": {"plan": {"currency": currency, "prices": prices[:1]}}}})
