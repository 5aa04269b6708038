"""The linkage model is estimated with Splink 5 without labels (bench/link_model.py): its SQL
comparison levels must be the ones pipeline.link computes in Python, and the estimate must
tell agreement from chance on a small synthetic register."""

from __future__ import annotations

import pytest

pytest.importorskip("splink", reason="splink is in the [test] extra")

from bench.link_model import check_levels, estimate, extract, synthetic_data  # noqa: E402


@pytest.fixture(scope="module")
def estimated():
    register, pages = synthetic_data(persons=4000, mentions=1500, seed=5)
    linker = estimate(register, pages)
    return linker, register, pages


def test_sql_levels_equal_python_levels(estimated):
    linker, register, pages = estimated
    assert check_levels(linker, pages, register, sample=5000) == {}


def test_unlabelled_estimate_separates_agreement_from_chance(estimated):
    linker, _, _ = estimated
    params = extract(linker.misc.save_model_to_json())
    for comparison, factor in (("name", 20), ("birth_date", 20), ("sex", 1.5)):  # sex agrees by chance half the time
        levels = params[comparison]
        assert abs(sum(v["m"] for v in levels.values()) - 1.0) < 1e-6
        # an exact agreement is far likelier among true pairs than among random ones ...
        assert levels["exact"]["m"] > factor * levels["exact"]["u"], (comparison, levels["exact"])
        # ... and disagreement the other way round
        assert levels["else"]["m"] < levels["else"]["u"], (comparison, levels["else"])
    assert params["birth_date"]["exact"]["u"] < 0.01
