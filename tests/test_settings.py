"""Settings: ranges validated with clear messages, JSON presets round-trip."""

import json

import pytest

from processing.settings import (FreqSepSettings, GraftSettings, Preset, SettingsError,
                                 SyntheticSettings)


def test_defaults_are_the_methods_md_defaults():
    assert SyntheticSettings().amount == 3.0 and SyntheticSettings().grain_size == 0.5
    assert GraftSettings().radius == 2.0 and GraftSettings().strength == 100.0
    assert FreqSepSettings().blur == 6.0 and FreqSepSettings().mode == "add"
    s = GraftSettings()
    assert (s.shadows, s.highlights) == (0.0, 100.0)  # protection off by default


@pytest.mark.parametrize("make, words", [
    (lambda: GraftSettings(radius=25), "graft.radius must be between 0.5 and 10"),
    (lambda: GraftSettings(strength=-5), "graft.strength must be between 0 and 200"),
    (lambda: SyntheticSettings(amount="lots"), "synthetic.amount must be a number"),
    (lambda: SyntheticSettings(seed=1.5), "whole number"),
    (lambda: SyntheticSettings(monochrome="yes"), "true or false"),
    (lambda: FreqSepSettings(mode="swap"), "'add' or 'replace'"),
    (lambda: Preset(method="magic"), "method must be one of"),
])
def test_out_of_range_values_are_refused_with_a_clear_message(make, words):
    with pytest.raises(SettingsError, match=words):
        make()


def test_preset_round_trips_through_json(tmp_path):
    p = Preset(method="freqsep", freqsep=FreqSepSettings(blur=7.5, mode="replace", strength=80),
               synthetic=SyntheticSettings(seed=42, monochrome=False))
    path = tmp_path / "p.json"
    p.save(path)
    assert Preset.load(path) == p
    data = json.loads(path.read_text())
    assert data["freqsep"]["blur"] == 7.5 and data["method"] == "freqsep"


def test_partial_preset_takes_defaults():
    p = Preset.from_json('{"method": "graft", "graft": {"strength": 60}}')
    assert p.graft.strength == 60 and p.graft.radius == 2.0 and p.freqsep == FreqSepSettings()


@pytest.mark.parametrize("text, words", [
    ('{"graft": {"radius": 2, "sharpness": 3}}', "Unknown setting graft.sharpness"),
    ('{"colour": 1}', "Unknown preset key 'colour'"),
    ('{"graft": {"radius": 99}}', "between 0.5 and 10"),
    ("not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
])
def test_bad_presets_are_refused(text, words):
    with pytest.raises(SettingsError, match=words):
        Preset.from_json(text)

