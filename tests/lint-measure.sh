#!/usr/bin/env bash
# Measures `revchain lint` against squawk on a real migration history (docs/lint.md).
#
#   tests/lint-measure.sh <diesel|golang-migrate|…> <source-dir> [revchain-binary]
#
# The source directory is only read: it is copied to a temporary directory, where Go template
# placeholders `{{ index .Options "Namespace" }}` (golang-migrate histories such as
# supabase/auth) become the schema `auth`; `revchain import --from <tool>` converts the copy,
# `revchain lint --format json` lints it (PostgreSQL rules), and squawk lints the same
# upgrade files. Prints the revision count, the findings of both per rule and per 100
# revisions, and writes both raw reports to $OUT (default target/lint-measure/<name>).
# squawk: `python3 -m venv target/squawk-venv && target/squawk-venv/bin/pip install squawk-cli`
# (or set SQUAWK to its path).
set -euo pipefail
tool=${1:?usage: $0 <tool> <source-dir> [revchain-binary]}
src=${2:?usage: $0 <tool> <source-dir> [revchain-binary]}
bin=${3:-target/debug/revchain}
squawk=${SQUAWK:-target/squawk-venv/bin/squawk}
out=${OUT:-target/lint-measure/$(basename "$src")}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cp -r "$src" "$work/src"
find "$work/src" -name '*.sql' -exec sed -i -E 's/\{\{ *index \.Options "Namespace" *\}\}/auth/g' {} +
"$bin" --dir "$work/revchain" import --from "$tool" "$work/src" > /dev/null
"$bin" --dir "$work/revchain" lint --format json --dialect postgres > "$out/revchain.json" || true
cp -r "$work/revchain" "$out/revisions"

# The upgrade files, as the tool lays them out.
find "$work/src" \( -name up.sql -o -name '*.up.sql' -o -name 'V*.sql' \) -print0 | sort -z > "$work/ups"
xargs -0 "$squawk" --reporter json < "$work/ups" > "$out/squawk.json" 2> "$out/squawk.stderr" || true
# revchain (like diesel and golang-migrate) runs each revision in a transaction: tell squawk.
xargs -0 "$squawk" --reporter json --assume-in-transaction < "$work/ups" > "$out/squawk-tx.json" 2>> "$out/squawk.stderr" || true

python3 - "$out" "$work/revchain" "$work/src" <<'PY'
import collections, json, os, sys
out, revdir, src = sys.argv[1:4]
n = len([f for f in os.listdir(revdir) if f.endswith(".sql")])
rc = json.load(open(os.path.join(out, "revchain.json")))["findings"]
def squawk(name):
    try:
        found = json.load(open(os.path.join(out, name)))
    except ValueError:
        found = []
    return [v for v in found if v.get("level", "").lower() != "info"]
def table(name, counts, total):
    print(f"{name}: {total} findings, {100 * total / n:.1f} per 100 revisions")
    for rule, c in counts.most_common():
        print(f"  {rule:40} {c:5}  {100 * c / n:6.1f}/100")
print(f"revisions: {n}")
table("revchain", collections.Counter(f["rule"] for f in rc), len(rc))
errs = [f for f in rc if f["severity"] == "error"]
print(f"  (errors {len(errs)}: {100 * len(errs) / n:.1f}/100; revisions with an error: "
      f"{len({f['revision'] for f in errs})})")
for name, label in [("squawk.json", "squawk"), ("squawk-tx.json", "squawk --assume-in-transaction")]:
    sq = squawk(name)
    table(label, collections.Counter(v.get("rule_name", "?") for v in sq), len(sq))
PY
