"""Estimate the linkage model's m/u parameters without labels, with Splink 5 on DuckDB,
and save them to config/linkage/model.json for per-page scoring in pipeline/link.py.

u comes from random sampling of page × register pairs, m from two EM passes (blocked on
birth date, then on the ID number's hash). No truth labels are read. The comparison levels are
written in SQL here and in Python in pipeline/link.py; the script checks on sampled
pairs that both give the same level before it saves anything.

    python -m bench.link_model --persons 100000 --mentions 30000 [--write]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter

import pyarrow as pa
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from bench.synth import Synth
from pipeline.link import (MODEL_PATH, MentionQuery, PersonRecord, compare, ethnicity_key, id_hmac, load_model, lunar_as_solar, place_key,
                           province_keys, upgrade_id)
from pipeline.namekeys import name_keys

KEY = b"model-estimation-key"
# Synthetic pages never get some fields wrong, so EM drives those m towards 0, which would
# let one misread 男/女 veto any link on real pages: every level keeps some probability.
M_FLOOR = 0.005
U_FLOOR = 1e-7
ORDER = {
    "name": ("exact", "variant", "skeleton", "four_corner", "pinyin", "shape1", "two_of_three", "edit1", "else"),
    "birth_date": ("exact", "typo", "lunar", "near", "partial", "adjacent_year", "year", "else"),
    "sex": ("exact", "else"),
    "ethnicity": ("exact", "else"),
    "birthplace": ("exact", "province", "part", "else"),
    "native_place": ("exact", "province", "part", "else"),
    "address": ("exact", "province", "part", "else"),
    "id": ("exact", "else"),
}


def _hash(number: str | None) -> str | None:
    if not number:
        return None
    try:
        return id_hmac(upgrade_id(number), KEY)
    except ValueError:
        return None


def _row(uid: str, name, sex, eth, dob, idn, birthplace, native, address) -> dict:
    keys = name_keys(name) if name else None
    return {
        "unique_id": uid,
        "name_raw": name,
        "name_norm": keys.norm if keys else None,
        "name_var": keys.variant if keys else None,
        "name_skel": keys.skeleton if keys else None,
        "name_fc": keys.four_corner if keys else None,
        "name_py": list(keys.pinyin) if keys else None,
        "dob": dob or None,
        "dob_lunar": _lunar_readings(dob),
        "birth_year": dob[:4] if dob else None,
        "sex": sex or None,
        "eth": ethnicity_key(eth) or None,
        "birthplace": place_key(birthplace) or None,
        "native_place": place_key(native) or None,
        "address": place_key(address) or None,
        "id_hmac": _hash(idn),
    }


def _lunar_readings(dob: str | None) -> list[str]:
    """The solar dates a full birth date means if its numbers were lunar (the `lunar` level)."""
    if not dob or len(dob) != 10:
        return []
    try:
        return [d.isoformat() for d in lunar_as_solar(int(dob[:4]), int(dob[5:7]), int(dob[8:]))]
    except ValueError:
        return []


def _place(col: str) -> cl.CustomComparison:
    part = (f"(least(length({col}_l), length({col}_r)) >= 2 AND (contains({col}_l, {col}_r) OR contains({col}_r, {col}_l)))"
            f" OR (length({col}_l) >= 4 AND length({col}_r) >= 4 AND substr({col}_l, 1, 4) = substr({col}_r, 1, 4))")
    provinces = "[" + ", ".join(f"'{p}'" for p in sorted(province_keys())) + "]"
    province = (f"(list_contains({provinces}, {col}_l) AND starts_with({col}_r, {col}_l) AND length({col}_l) <= length({col}_r))"
                f" OR (list_contains({provinces}, {col}_r) AND starts_with({col}_l, {col}_r) AND length({col}_r) <= length({col}_l))")
    return cl.CustomComparison(output_column_name=col, comparison_levels=[
        cll.NullLevel(col), cll.CustomLevel(f"{col}_l = {col}_r", label_for_charts="exact"),
        cll.CustomLevel(province, label_for_charts="province"),
        cll.CustomLevel(part, label_for_charts="part"), cll.ElseLevel()])


def _exact(col: str, name: str) -> cl.CustomComparison:
    return cl.CustomComparison(output_column_name=name, comparison_levels=[
        cll.NullLevel(col), cll.CustomLevel(f"{col}_l = {col}_r", label_for_charts="exact"), cll.ElseLevel()])


def comparisons() -> list:
    name = cl.CustomComparison(output_column_name="name", comparison_levels=[
        cll.NullLevel("name_norm"),
        cll.ExactMatchLevel("name_norm").configure(tf_adjustment_column="name_norm", label_for_charts="exact"),
        cll.CustomLevel("name_var_l = name_var_r", label_for_charts="variant"),
        cll.CustomLevel("name_skel_l = name_skel_r", label_for_charts="skeleton"),
        cll.CustomLevel("name_fc_l = name_fc_r", label_for_charts="four_corner"),
        cll.CustomLevel("list_has_any(name_py_l, name_py_r)", label_for_charts="pinyin"),
        cll.CustomLevel(
            "length(name_norm_l) = length(name_norm_r) "
            "AND len(list_filter(range(1, length(name_norm_l) + 1), lambda i: substr(name_norm_l, i, 1) != substr(name_norm_r, i, 1))) = 1 "
            "AND len(list_filter(range(1, length(name_norm_l) + 1), lambda i: substr(name_norm_l, i, 1) != substr(name_norm_r, i, 1) "
            "AND (contains(substr(name_fc_l, 6 * i - 5, 5) || substr(name_fc_r, 6 * i - 5, 5), '?') "
            "OR hamming(substr(name_fc_l, 6 * i - 5, 5), substr(name_fc_r, 6 * i - 5, 5)) > 1))) = 0",
            label_for_charts="shape1"),
        cll.CustomLevel("length(name_var_l) = length(name_var_r) AND length(name_var_l) >= 3 AND levenshtein(name_var_l, name_var_r) = 1",
                        label_for_charts="two_of_three"),
        cll.CustomLevel("levenshtein(name_var_l, name_var_r) = 1", label_for_charts="edit1"),
        cll.ElseLevel()])
    full = "length(dob_l) = 10 AND length(dob_r) = 10"
    shortest = "least(length(dob_l), length(dob_r))"
    dob = cl.CustomComparison(output_column_name="birth_date", comparison_levels=[
        cll.NullLevel("dob"),
        cll.CustomLevel("length(dob_l) = 10 AND dob_l = dob_r", label_for_charts="exact"),
        cll.CustomLevel(f"{full} AND (levenshtein(replace(dob_l, '-', ''), replace(dob_r, '-', '')) = 1 OR "
                        "(substr(dob_l, 1, 4) = substr(dob_r, 1, 4) AND substr(dob_l, 6, 2) = substr(dob_r, 9, 2) "
                        "AND substr(dob_l, 9, 2) = substr(dob_r, 6, 2)))", label_for_charts="typo"),
        cll.CustomLevel(f"{full} AND abs(date_diff('day', try_cast(dob_l AS DATE), try_cast(dob_r AS DATE))) <= 60 "
                        "AND (list_contains(dob_lunar_l, dob_r) OR list_contains(dob_lunar_r, dob_l))", label_for_charts="lunar"),
        cll.CustomLevel(f"{full} AND abs(date_diff('day', try_cast(dob_l AS DATE), try_cast(dob_r AS DATE))) <= 60",
                        label_for_charts="near"),
        cll.CustomLevel(f"NOT ({full}) AND substr(dob_l, 1, {shortest}) = substr(dob_r, 1, {shortest})", label_for_charts="partial"),
        cll.CustomLevel(f"NOT ({full}) AND {shortest} = 4 AND abs(try_cast(substr(dob_l, 1, 4) AS INTEGER)"
                        " - try_cast(substr(dob_r, 1, 4) AS INTEGER)) = 1", label_for_charts="adjacent_year"),
        cll.CustomLevel(f"{full} AND substr(dob_l, 1, 4) = substr(dob_r, 1, 4)", label_for_charts="year"),
        cll.ElseLevel()])
    return [name, dob, _exact("sex", "sex"), _exact("eth", "ethnicity"), _place("birthplace"), _place("native_place"),
            _place("address"), _exact("id_hmac", "id")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--mentions", type=int, default=30_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--write", action="store_true", help=f"save the parameters to {MODEL_PATH}")
    args = ap.parse_args()

    t0 = time.perf_counter()
    register, pages = synthetic_data(args.persons, args.mentions, args.seed)
    print(f"data: {len(register)} register rows, {len(pages)} mentions ({time.perf_counter() - t0:.1f} s); truth is not given to Splink")
    t = time.perf_counter()
    linker = estimate(register, pages)
    print(f"splink: u by random sampling, m by EM blocked on birth date, then on the ID hash: {time.perf_counter() - t:.1f} s")

    if check_levels(linker, pages, register):
        raise SystemExit("SQL and Python comparison levels disagree: fix one of them before saving")
    model = linker.misc.save_model_to_json()
    params = extract(model)
    for comparison, levels in params.items():
        print(f"  {comparison:13s} " + "  ".join(f"{lv}: m={v['m']:.4g} u={v['u']:.3g}" for lv, v in levels.items()))
    if args.write:
        write(params, args)


def synthetic_data(persons: int, mentions: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Register rows and page mentions as Splink's input rows, without their truth."""
    synth = Synth(seed)
    rows, _ = synth.register(persons)
    found = synth.mentions(rows, mentions)
    register = [_row(r.person_id, r.name, r.sex, r.ethnicity, r.birth_date, r.id_number, r.birthplace, r.native_place, r.address) for r in rows]
    pages = [_row(f"M{i}", m.name, m.sex, m.ethnicity, m.birth_date, m.id_number, m.birthplace, m.native_place, m.address) for i, m in enumerate(found)]
    return register, pages


def estimate(register: list[dict], pages: list[dict]) -> Linker:
    """Splink's unlabelled estimate: u by random sampling, m by EM blocked on birth date, then on the ID hash."""
    db = DuckDBAPI()
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=comparisons(),
        blocking_rules_to_generate_predictions=[block_on("dob"), block_on("name_norm", "birth_year")],
        probability_two_random_records_match=0.9 / len(register),
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=True,
    )
    linker = Linker([db.register(pa.Table.from_pylist(pages), table_name="pages"),
                     db.register(pa.Table.from_pylist(register), table_name="register")], settings, log_level="WARNING")
    linker.training.estimate_u_using_random_sampling(max_pairs=3e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    # Pages that carry an ID number: the pairs sharing it estimate the birth date and name
    # levels. (Blocking on the name instead lets EM mistake same-name strangers for matches.)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("id_hmac"))
    return linker


def check_levels(linker, pages: list[dict], register: list[dict], sample: int = 20000) -> Counter:
    """Splink's SQL levels and pipeline.link's Python levels must agree pair by pair."""
    pairs = linker.inference.predict().as_record_list()
    random.Random(3).shuffle(pairs)
    by_id = {r["unique_id"]: r for r in pages + register}
    model = load_model()
    gamma_cols = {"name": "gamma_name", "birth_date": "gamma_birth_date", "sex": "gamma_sex", "ethnicity": "gamma_ethnicity",
                  "birthplace": "gamma_birthplace", "native_place": "gamma_native_place", "address": "gamma_address", "id": "gamma_id"}
    disagree: Counter = Counter()
    examples = []
    for pair in pairs[:sample]:
        page, person = by_id[pair["unique_id_l"]], by_id[pair["unique_id_r"]]
        if not page["unique_id"].startswith("M"):
            page, person = person, page
        query = MentionQuery(page["name_raw"], page["sex"], page["eth"], page["dob"], None, page["birthplace"], page["native_place"], page["address"])
        record = PersonRecord(person["unique_id"], person["name_raw"], person["sex"], person["eth"], person["dob"], person["id_hmac"],
                              person["birthplace"], person["native_place"], person["address"])
        levels = compare(query, page["id_hmac"], record, model).levels
        for comparison, col in gamma_cols.items():
            gamma = pair[col]
            sql_level = "null" if gamma == -1 else ORDER[comparison][len(ORDER[comparison]) - 1 - gamma]
            if sql_level != levels[comparison]:
                disagree[comparison] += 1
                if len(examples) < 5:
                    examples.append((comparison, sql_level, levels[comparison], page["name_raw"], person["name_raw"], page["dob"], person["dob"]))
    checked = min(sample, len(pairs))
    print(f"level check on {checked} pairs: disagreements {dict(disagree) or 'none'}")
    for e in examples:
        print("  ", e)
    return disagree


def extract(model: dict) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    fallback = load_model()
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        levels = {}
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            label = level["label_for_charts"] if level["label_for_charts"] in ORDER[name] else "else"
            m, u = level.get("m_probability"), level.get("u_probability")
            if m is None or u is None:  # not observed in training: keep the previous value
                m = m if m is not None else fallback.comparisons[name][label].m
                u = u if u is not None else fallback.comparisons[name][label].u
            levels[label] = {"m": max(float(m), M_FLOOR), "u": max(float(u), U_FLOOR)}
        total = sum(v["m"] for v in levels.values())
        out[name] = {label: {"m": v["m"] / total, "u": v["u"]} for label, v in levels.items()}
    return out


def write(params: dict, args) -> None:
    current = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    current["comparisons"] = {name: {"levels": levels} for name, levels in params.items()}
    current["source"] = (f"splink 5 (DuckDB), unsupervised: u by random sampling, m by EM blocked on birth date then ID hash; "
                         f"synthetic register of {args.persons} persons and {args.mentions} page mentions (bench/link_model.py, seed {args.seed})")
    MODEL_PATH.write_text(json.dumps(current, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"saved {MODEL_PATH}")


if __name__ == "__main__":
    main()
