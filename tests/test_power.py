"""Host power models: engine = reference on random utilisations, the presets' SPECpower
points, the shape of every curve, and bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmsched import errors
from vmsched.models.power import (
    DEFAULT_POWER_MODEL,
    POWER_MODELS,
    POWER_PRESETS,
    PowerModel,
    cubic,
    linear,
    resolve_power_model,
    table,
)
from vmsched.reference.power import power_w as reference_power_w

G4 = (86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117)
G5 = (93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135)

watts = st.floats(0, 2000, allow_nan=False)


@st.composite
def models(draw):
    kind = draw(st.sampled_from(sorted(POWER_MODELS)))
    if kind == "table":
        return table(sorted(draw(st.lists(watts, min_size=11, max_size=11))))
    idle, peak = sorted([draw(watts), draw(watts)])
    return POWER_MODELS[kind](idle, peak)


@given(model=models(), u=st.lists(st.floats(0, 1), min_size=1, max_size=50))
def test_engine_equals_reference(model, u):
    got = model.power_w(np.array(u))
    expected = [reference_power_w(model.kind, model.watts, x) for x in u]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-9)


@given(model=models(), a=st.floats(0, 1), b=st.floats(0, 1))
def test_power_is_between_idle_and_max_and_never_falls(model, a, b):
    low, high = sorted([a, b])
    p_low, p_high = model.power_w(low), model.power_w(high)
    assert model.idle_w - 1e-9 <= p_low <= p_high + 1e-9 <= model.max_w + 2e-9
    # The ends, to the rounding of CloudSim's operation order (a few ulps).
    assert model.power_w(0.0) == pytest.approx(model.idle_w, rel=1e-12, abs=1e-12)
    assert model.power_w(1.0) == pytest.approx(model.max_w, rel=1e-12, abs=1e-12)


def test_the_presets_are_cloudsims_specpower_points():
    for name, points in (("hp_proliant_ml110_g4", G4), ("hp_proliant_ml110_g5", G5)):
        model = POWER_PRESETS[name]
        assert model.power_w(np.arange(11) / 10).tolist() == list(points)
        assert model.power_w(0.05) == pytest.approx((points[0] + points[1]) / 2)
    assert resolve_power_model("hp_proliant_ml110_g4") is POWER_PRESETS["hp_proliant_ml110_g4"]
    assert DEFAULT_POWER_MODEL.kind == "linear" and DEFAULT_POWER_MODEL.watts == (150.0, 400.0)


def test_curves_differ_as_their_names_say():
    u = 0.25
    assert linear(100, 200).power_w(u) == pytest.approx(125)
    assert POWER_MODELS["sqrt"](100, 200).power_w(u) == pytest.approx(150)
    assert POWER_MODELS["square"](100, 200).power_w(u) == pytest.approx(106.25)
    assert cubic(100, 200).power_w(u) == pytest.approx(100 + 100 / 64)


@pytest.mark.parametrize("build, text", [
    (lambda: table(G4[:10]), "11 watt values"),
    (lambda: linear(200, 100), "above max power"),
    (lambda: linear(-1, 100), "finite and >= 0"),
    (lambda: linear(float("nan"), 100), "finite and >= 0"),
    (lambda: PowerModel("quartic", (1, 2)), "quartic"),
    (lambda: table(["a"] * 11), "not numbers"),
])
def test_bad_models_are_refused(build, text):
    with pytest.raises(errors.InvalidRequest, match=text):
        build()


@pytest.mark.parametrize("u", [-0.1, 1.5, float("nan")])
def test_utilisation_outside_zero_to_one_is_refused(u):
    with pytest.raises(errors.InvalidRequest, match="not in"):
        linear(1, 2).power_w(u)


def test_unknown_presets_are_refused_naming_the_known_ones():
    with pytest.raises(errors.UnknownKey, match="hp_proliant_ml110_g4"):
        resolve_power_model("hp_g9")
    with pytest.raises(errors.InvalidRequest):
        resolve_power_model(42)


tenths_and_more = st.one_of(st.integers(0, 10).map(lambda k: k / 10), st.floats(0, 1))


@given(model=st.one_of(models(), st.just(table([-0.0] * 5 + [1.0] * 6))),
       u=st.lists(tenths_and_more, min_size=1, max_size=30))
def test_a_prepared_model_gives_the_same_watts_bit_for_bit(model, u):
    """The consolidation kernels use each host's model with its divisions done once
    (prepare_power); every watt value is power_at's, bit for bit (the sign of a zero too)."""
    from vmsched.engine.models.kernels_power import (
        N_PREPARED, power_at, prepare_power, prepared_power_at)
    watts = np.asarray(model.points, np.float64)
    prepared = np.empty(N_PREPARED)
    prepare_power(model.code, watts, prepared)
    for x in u:
        got = np.float64(prepared_power_at(model.code, prepared, x))
        assert got.tobytes() == np.float64(power_at(model.code, watts, x)).tobytes(), x
