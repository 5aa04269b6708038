"""Where linkage recall goes: every registered mention not linked to its true person,
broken down by status, by the synth's error tags, by the number of namesakes and by the
fields the mention carries; and how many registered mentions no linker could link,
because another register person agrees with the true one on everything the page
carries (an information limit, measured with the synth's truth: the ambiguity count of a
mention is the number of other real persons whose register values equal the true
person's on every field the page carries and took from that person).

    python -m bench.link_misses --persons 200000 --mentions 5000 [--db FILE.sqlite3]

--db reuses a register a previous run imported (same --persons and --seed).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from bench.synth import Synth, write_register_csv
from pipeline.db.base import Base
from pipeline.db.register import RegisterPerson, import_register_csv, link_to_register
from pipeline.link import LinkOptions, MentionQuery
from pipeline.namekeys import name_keys

HMAC_KEY = b"bench-hmac-key"  # as bench.link


def _fields(m) -> str:
    date = "nodate" if not m.birth_date else ("year" if len(m.birth_date) == 4 else "date")
    parts = [date]
    for flag, value in (("id", m.id_number), ("bp", m.birthplace), ("np", m.native_place), ("addr", m.address)):
        if value:
            parts.append(flag)
    return "+".join(parts)


def _bucket(n: int) -> str:
    for edge in (1, 2, 5, 20, 100, 500):
        if n <= edge:
            return f"≤{edge}"
    return ">500"


def ambiguity(m, true, by_name: dict[str, list]) -> int:
    """Other real persons the page cannot tell from the true one (see module doc)."""
    others = set()
    for r in by_name.get(true.name, ()):
        if r.truth == true.truth:
            continue
        if m.id_number and r.id_number != true.id_number:
            continue
        if m.birth_date:
            errs = set(m.errors)
            if "year_only" in errs:
                if r.birth_date[:4] != true.birth_date[:4]:
                    continue
            elif r.birth_date != true.birth_date:
                continue
        if m.sex is not None and r.sex != true.sex:
            continue
        if m.ethnicity is not None and m.ethnicity == true.ethnicity and r.ethnicity != true.ethnicity:
            continue
        if m.birthplace and r.birthplace != true.birthplace:
            continue
        if m.native_place and r.native_place != true.native_place:
            continue
        if m.address and m.address == true.address and r.address != true.address:
            continue
        others.add(r.truth)
    return len(others)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=200_000)
    ap.add_argument("--mentions", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--db", default="", help="an SQLite register already imported from the same synth")
    ap.add_argument("--dump", default="", help="write one JSON line per missed registered mention here")
    ap.add_argument("--sweep", default="", help="write every mention's status, score and correctness here")
    args = ap.parse_args()

    synth = Synth(args.seed)
    rows, _ = synth.register(args.persons)
    mentions = synth.mentions(rows, args.mentions)
    db = Path(args.db) if args.db else Path(tempfile.mkdtemp(prefix="link-misses-")) / "register.sqlite3"
    url = f"sqlite:///{db}"
    if not db.exists():
        csv_path = db.parent / "register.csv"
        write_register_csv(rows, csv_path)
        engine = create_engine(url)
        Base.metadata.create_all(engine, tables=[RegisterPerson.__table__])
        import_register_csv(engine, csv_path, hmac_key=HMAC_KEY, fernet_key=Fernet.generate_key())
        print(f"register imported into {db}")
    engine = create_engine(url)
    truth_of = {r.person_id: r.truth for r in rows}
    first_row = {}
    for r in sorted(rows, key=lambda r: r.person_id):
        first_row.setdefault(r.truth, r)  # the original registration (a planted copy has a later id)
    by_name: dict[str, list] = defaultdict(list)
    name_count: Counter = Counter()
    for r in rows:
        by_name[r.name].append(r)
        name_count[name_keys(r.name).norm] += 1

    options = LinkOptions()
    table: Counter = Counter()
    status_of: Counter = Counter()
    registered = 0
    amb_all: Counter = Counter()
    dump = open(args.dump, "w", encoding="utf-8") if args.dump else None
    sweep = open(args.sweep, "w", encoding="utf-8") if args.sweep else None
    t = time.process_time()
    with Session(engine) as session:
        for m in mentions:
            q = MentionQuery(m.name, m.sex, m.ethnicity, m.birth_date, m.id_number, m.birthplace, m.native_place, m.address)
            result = link_to_register(session, q, key=HMAC_KEY, options=options)
            if sweep is not None:
                top = result.candidates[0][0] if result.candidates else None
                sweep.write(json.dumps({"reg": bool(m.truth), "status": result.status, "score": result.score,
                                        "top_ok": bool(m.truth) and truth_of.get(top) == m.truth,
                                        "ok": bool(m.truth) and truth_of.get(result.person_id) == m.truth,
                                        "errors": m.errors, "reasons": result.reasons,
                                        "page": [m.name, m.sex, m.birth_date, m.id_number, m.birthplace, m.native_place, m.address]},
                                       ensure_ascii=False) + "\n")
            if not m.truth:
                continue
            registered += 1
            true = first_row[m.truth]
            amb = ambiguity(m, true, by_name)
            amb_all["ambiguous" if amb else "unique"] += 1
            ok = result.status == "linked" and truth_of.get(result.person_id) == m.truth
            own_conflict = result.status == "conflict" and all(truth_of.get(p) == m.truth for p, _ in result.candidates)
            if ok:
                amb_all["linked_" + ("ambiguous" if amb else "unique")] += 1
                continue
            if result.status == "linked":
                kind = "wrong link"
            elif result.status == "conflict":
                kind = "conflict (own duplicate)" if own_conflict else "conflict"
            elif result.status == "review":
                kind = "review (true on top)" if truth_of.get(result.person_id) == m.truth else "review (other on top)"
            else:
                kind = "new"
            top_true = bool(result.candidates) and truth_of.get(result.candidates[0][0]) == m.truth
            status_of[kind] += 1
            namesakes = name_count[name_keys(m.name).norm] if m.name else 0
            row = {
                "status": kind,
                "errors": "+".join(m.errors) or "none",
                "fields": _fields(m),
                "namesakes": _bucket(namesakes),
                "ambiguous": "ambiguous" if amb else "unique",
            }
            for key, value in row.items():
                table[(key, value)] += 1
            if dump:
                dump.write(json.dumps({**row, "amb": amb, "n": namesakes, "score": result.score, "top_true": top_true,
                                       "page": [m.name, m.sex, m.birth_date, m.id_number, m.birthplace, m.native_place, m.address],
                                       "true": [true.name, true.sex, true.birth_date, true.birthplace, true.native_place, true.address],
                                       "reasons": result.reasons}, ensure_ascii=False) + "\n")
    cpu = time.process_time() - t
    missed = sum(status_of.values())
    print(f"{registered} registered mentions, {missed} not linked to their true person ({missed / registered:.4f}); {args.mentions / cpu:.0f} mentions/CPU-s")
    print(f"information limit: {amb_all['ambiguous']} registered mentions ({amb_all['ambiguous'] / registered:.4f}) have another real person"
          f" identical on every field the page carries; of them {amb_all['linked_ambiguous']} were linked right anyway (luck or date/name detail);"
          f" unique ones linked {amb_all['linked_unique']}/{amb_all['unique']} = {amb_all['linked_unique'] / max(amb_all['unique'], 1):.4f}")
    print(f"max recall if every uniquely determined mention were linked: {(amb_all['unique'] + amb_all['linked_ambiguous']) / registered:.4f}")
    for key in ("status", "errors", "fields", "namesakes", "ambiguous"):
        items = sorted(((v, n) for (k, v), n in table.items() if k == key), key=lambda x: -x[1])
        print(f"  by {key}: " + ", ".join(f"{v} {n} ({n / registered:.2%})" for v, n in items))
    # cross: status x ambiguity, fields x ambiguity
    if dump:
        dump.close()


if __name__ == "__main__":
    main()
