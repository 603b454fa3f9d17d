#!/usr/bin/env bash
# metrics.sh - GET /metrics and GET /readyz against a real elvesd:
#   - /metrics is Prometheus text format 0.0.4, checked strictly by a small
#     parser (names, labels, escapes, one TYPE per family before its
#     samples, contiguous families, no duplicate series, histogram buckets
#     cumulative with +Inf = _count);
#   - counters move: requests by route/status, bytes in/out, latency count,
#     whole-file dedup hits, cache lookups, jobs done, logical/stored bytes;
#   - /readyz is 200 with every check ok, 503 naming the chunk store when
#     its directory cannot take a file, 200 again once it can.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init metrics 300

# scrape OUT: fetches /metrics, checks the format, writes "series value"
# lines (sorted) to OUT.
scrape() {
  local s
  s=$("${CURL[@]}" -o "$T/metrics.txt" -D "$T/mheaders" -w '%{http_code}' "$BASE/metrics" || true)
  [ "$s" = 200 ] || fail "/metrics: $s"
  grep -qi '^content-type: text/plain; version=0.0.4' "$T/mheaders" || fail "/metrics content type: $(grep -i content-type "$T/mheaders")"
  "$PY" - "$T/metrics.txt" "$1" <<'PYEOF' || fail "/metrics is not valid Prometheus text (see above)"
import math, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s)(?:,%s)*)?,?\})? (\S+)(?: -?\d+)?$" % (NAME, LABEL, LABEL))
errors, types, helps, seen, out = [], {}, set(), set(), []
done_families, current = set(), None
def family_of(name):
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return base
    return name
if not text.endswith("\n"):
    errors.append("no final newline")
buckets = {}
for n, line in enumerate(text.split("\n")[:-1], 1):
    if line.startswith("#"):
        m = re.match(r"^# (HELP|TYPE) (%s) (.*)$" % NAME, line)
        if not m:
            errors.append("%d: bad comment %r" % (n, line)); continue
        kind, name, rest = m.groups()
        if kind == "TYPE":
            if rest not in ("counter", "gauge", "histogram", "summary", "untyped"):
                errors.append("%d: bad type %r" % (n, rest))
            if name in types:
                errors.append("%d: second TYPE for %s" % (n, name))
            if name in done_families:
                errors.append("%d: TYPE for %s after its samples" % (n, name))
            types[name] = rest
        else:
            if name in helps:
                errors.append("%d: second HELP for %s" % (n, name))
            helps.add(name)
        continue
    m = SAMPLE.match(line)
    if not m:
        errors.append("%d: bad sample %r" % (n, line)); continue
    name, value = m.group(1), m.group(m.lastindex)
    labels = dict(re.findall(LABEL, line[len(name):line.rfind("}") + 1])) if "{" in line else {}
    try:
        v = float(value)
    except ValueError:
        errors.append("%d: bad value %r" % (n, value)); continue
    fam = family_of(name)
    if fam not in types:
        errors.append("%d: sample of %s without TYPE" % (n, fam))
    if fam != current:
        if fam in done_families:
            errors.append("%d: family %s not contiguous" % (n, fam))
        if current: done_families.add(current)
        current = fam
    key = name + "{" + ",".join("%s=%s" % kv for kv in sorted(labels.items())) + "}"
    if key in seen:
        errors.append("%d: duplicate series %s" % (n, key))
    seen.add(key)
    if types.get(fam) == "counter" and (v < 0 or math.isnan(v)):
        errors.append("%d: counter %s is %s" % (n, key, value))
    if name.endswith("_bucket") and types.get(fam) == "histogram":
        buckets.setdefault(fam, []).append((float(labels["le"]), v))
    out.append("%s %s" % (key, value))
for fam, bs in buckets.items():
    les = [b[0] for b in bs]
    if les != sorted(les) or les[-1] != math.inf:
        errors.append("%s: le not increasing or no +Inf" % fam)
    if any(b[1] < a[1] for a, b in zip(bs, bs[1:])):
        errors.append("%s: buckets not cumulative" % fam)
    count = [l for l in out if l.startswith(fam + "_count{")]
    if not count or float(count[0].split()[-1]) != bs[-1][1]:
        errors.append("%s: +Inf bucket != _count" % fam)
for e in errors:
    print("metrics: " + e, file=sys.stderr)
open(sys.argv[2], "w").write("\n".join(sorted(out)) + "\n")
sys.exit(1 if errors else 0)
PYEOF
}

# metric FILE SERIES: its value (0 if absent).
metric() { awk -v k="$2" '$1 == k {v = $2} END {print v + 0}' "$1"; }
# grew A B SERIES [MIN]: the series grew by at least MIN (default 1).
grew() {
  local a b
  a=$(metric "$1" "$3"); b=$(metric "$2" "$3")
  "$PY" -c "import sys; sys.exit(0 if $b - $a >= ${4:-1} else 1)" ||
    fail "$3 went from $a to $b, wanted +${4:-1}"
  pass
}

start_server "$T/data" --workers 2
scrape "$T/m0"
[ "$(metric "$T/m0" 'elves_workers{}')" = 2 ] || fail "elves_workers is not 2"
pass
[ "$(req GET "$BASE/readyz")" = 200 ] || fail "readyz: $(cat "$T/body")"
[ "$(jget "$T/body" ready)" = True ] || fail "readyz body: $(cat "$T/body")"
for c in database migrations chunk_store spool; do
  [ "$(jget "$T/body" checks "$c")" = ok ] || fail "readyz check $c: $(cat "$T/body")"
done
pass

F=$DATA/faceapi-age-gender.safetensors
size=$(fsize "$F")
create_repo org/a
create_repo org/b
wait_job "$(upload org/a m.safetensors "$F")"
wait_job "$(upload org/b m.safetensors "$F")" # the same bytes: a whole-file twin
download org/a m.safetensors "$T/d1"
download org/a m.safetensors "$T/d2"
cmp -s "$T/d1" "$F" || fail "download differs"
req GET "$BASE/no/such/route" >/dev/null
scrape "$T/m1"

PUT='elves_http_requests_total{method=PUT,route=/api/v1/repos/{org}/{name}/files/{path*},status=201}'
GET='elves_http_requests_total{method=GET,route=/api/v1/repos/{org}/{name}/files/{path*},status=200}'
grew "$T/m0" "$T/m1" "$PUT" 2
grew "$T/m0" "$T/m1" "$GET" 2
grew "$T/m0" "$T/m1" 'elves_http_requests_total{method=GET,route=unmatched,status=404}' 1
grew "$T/m0" "$T/m1" 'elves_http_requests_total{method=GET,route=/metrics,status=200}' 1
grew "$T/m0" "$T/m1" 'elves_http_received_bytes_total{}' $((2 * size))
grew "$T/m0" "$T/m1" 'elves_http_sent_bytes_total{}' $((2 * size))
grew "$T/m0" "$T/m1" 'elves_http_request_duration_seconds_count{}' 8
grew "$T/m0" "$T/m1" 'elves_dedup_hits_total{kind=file}' 1
grew "$T/m0" "$T/m1" 'elves_jobs{state=done}' 2
grew "$T/m0" "$T/m1" 'elves_logical_bytes{}' "$size"
grew "$T/m0" "$T/m1" 'elves_stored_bytes{}' 1
lookups=$(( $(metric "$T/m1" 'elves_cache_lookups_total{result=hit}') + $(metric "$T/m1" 'elves_cache_lookups_total{result=miss}') ))
[ "$lookups" -gt 0 ] || fail "no cache lookups counted after two downloads"
pass
[ "$(metric "$T/m1" 'elves_jobs{state=failed}')" = 0 ] || fail "failed jobs counted"
[ "$(metric "$T/m1" 'elves_store_up{}')" = 1 ] || fail "elves_store_up is not 1"
pass

# readiness follows the chunk store's directory
mv "$T/data/packs" "$T/data/packs.away"
s=$(req GET "$BASE/readyz")
[ "$s" = 503 ] || fail "readyz with the chunk store gone: $s $(cat "$T/body")"
[ "$(jget "$T/body" ready)" = False ] || fail "readyz body: $(cat "$T/body")"
[ "$(jget "$T/body" checks chunk_store)" != ok ] || fail "readyz does not name the chunk store: $(cat "$T/body")"
[ "$(req GET "$BASE/healthz")" = 200 ] || fail "healthz should stay 200"
mv "$T/data/packs.away" "$T/data/packs"
[ "$(req GET "$BASE/readyz")" = 200 ] || fail "readyz did not recover: $(cat "$T/body")"
pass
stop_server
finish
