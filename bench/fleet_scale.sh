#!/usr/bin/env bash
# bench/fleet_scale: the whole local stack at fleet scale on one machine (issue 11). For each
# size N given: `aerie up --vehicles N` (3-node nats-server 2.9 hub with JetStream, per vehicle
# aerie-relay + aerie-leaf + aerie-gw + aerie-sim, the guard and a dashboard), then measures
# and prints one table row, then `aerie revoke` of the middle vehicle and `aerie down`.
#
#   bench/fleet_scale.sh [--build DIR] [--telemetry-hz H] [--settle S] [--dir D] N [N...]
#   e.g. bench/fleet_scale.sh --telemetry-hz 1 10 100 1000
#
# Columns (medians of 5 where a latency):
#   up s        `aerie up` until every vehicle is online in `aerie status` (it waits for that)
#   online      vehicles online / N when `up` returned
#   veh RSS/PSS per vehicle: the sum over its relay, leaf, gw and sim (MiB), averaged
#   fleet PSS   every process of the fleet together, hubs included (MiB)
#   hub CPU     each hub node's CPU over the --settle window (percent of one core), averaged
#   veh CPU     every vehicle process together over the window (percent of one core)
#   busy        the whole machine over the window (percent of all cores busy; other work
#               on a shared machine included)
#   hub RSS     per hub node (MiB), averaged
#   fds         open descriptors of the busiest hub node
#   msg/s       messages stored into the hub's twin streams per second (last_seq growth of
#               TWIN_STATE, TWIN_EVENTS, FLEET_LINK, TWIN_LIVE over the window)
#   status      `aerie status --json` (the whole fleet), ms
#   twin        `aerie twin VID` of the first vehicle, ms
#   replay      `aerie replay VID --since 1h` of the first vehicle, ms (and its messages)
#   dash        the dashboard's GET /api/fleet, ms
#   crash       kill -9 of the leaf and gateway of three vehicles, then `aerie up` again: its
#               time until all online, how many processes it started (6: only those), and
#               how many vehicles `status` shows online once the staleness window passed
#   revoke      `aerie revoke` of the middle vehicle: when its uplink was cut (from 50
#               vehicles on, at its relay before the hubs reload: "N (done M)" with M the
#               whole command; else the command, which ends with the hub-side eviction and
#               the vehicle's own leaf reporting its uplink down), and until `aerie status`
#               shows it offline (after the fleet's staleness window: 6 s, 15 s from 500
#               vehicles, 30 s from 1,000: the cut vehicle can no longer say so), ms; "ok"
#               when every other vehicle stayed online
#   down        `aerie down`, s; "clean" when no process of the fleet is left
# Machine-wide: load average and free memory at the end of the window go to stderr.
#
# --rtt MS: once `up` is done, every vehicle's relay holds each chunk MS/2 in each direction
# (`delay`), so the window, the queries, the crash re-up and the revoke see a cellular round
# trip (100-300 ms) instead of loopback; `up s` is still measured on loopback.
#
# A large N saturates a small machine: announce it to whoever shares it.
set -uo pipefail
cd "$(dirname "$0")/.."
build=build hz=1 settle=30 base="" rtt=0
sizes=()
while (($#)); do
    case "$1" in
    --build) build=$2; shift 2 ;;
    --telemetry-hz) hz=$2; shift 2 ;;
    --settle) settle=$2; shift 2 ;;
    --dir) base=$2; shift 2 ;;
    --rtt) rtt=$2; shift 2 ;;
    -h | --help) sed -n 2,30p "$0"; exit 0 ;;
    *) sizes+=("$1"); shift ;;
    esac
done
((${#sizes[@]})) || { echo "usage: $0 [--build DIR] [--telemetry-hz H] [--settle S] [--rtt MS] [--dir D] N [N...]" >&2; exit 2; }
aerie=$(realpath "$build/aerie")
base=${base:-$(mktemp -d /tmp/aerie-scale-XXXXXX)}
mkdir -p "$base"

now_ms() { date +%s%3N; }

# Median of the wall times (ms) of 5 runs of a command.
median_ms() {
    local t=()
    for _ in 1 2 3 4 5; do
        local a=$(now_ms)
        "$@" >/dev/null 2>&1
        t+=($(($(now_ms) - a)))
    done
    printf '%s\n' "${t[@]}" | sort -n | sed -n 3p
}

# fleet.json -> "kind pid" lines
procs() {
    python3 -c '
import json, sys
for p in json.load(open(sys.argv[1] + "/fleet.json"))["processes"]:
    if p.get("pid"): print(p["kind"], p["pid"])' "$1"
}

# Memory of the fleet: "vehRSS vehPSS fleetPSS hubRSS" in MiB.
memory() {
    procs "$1" | python3 -c '
import sys, collections
rss, pss = collections.Counter(), collections.Counter()
n = collections.Counter()
for line in sys.stdin:
    kind, pid = line.split()
    try:
        f = {}
        for l in open("/proc/%s/smaps_rollup" % pid):
            k, _, v = l.partition(":")
            if k in ("Rss", "Pss"): f[k] = int(v.split()[0])
    except OSError:
        continue
    rss[kind] += f["Rss"]; pss[kind] += f["Pss"]; n[kind] += 1
veh = ("relay", "leaf", "gw", "sim")
nv = max(n["leaf"], 1)
print("%.1f %.1f %.0f %.0f" % (sum(rss[k] for k in veh) / nv / 1024, sum(pss[k] for k in veh) / nv / 1024,
      sum(pss.values()) / 1024, rss["hub"] / max(n["hub"], 1) / 1024))'
}

# CPU ticks (utime + stime) of the hub nodes, space-separated.
hub_ticks() {
    for pid in $(procs "$1" | awk '$1 == "hub" {print $2}'); do
        awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0
    done | paste -sd' '
}

# CPU ticks of every vehicle process together (relay, leaf, gw, sim).
veh_ticks() {
    procs "$1" | awk '$1 != "hub" && $1 != "dashboard" && $1 != "guard" {print $2}' |
        while read -r pid; do awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null; done |
        awk '{s += $1} END {print s + 0}'
}

# The machine's busy and total jiffies (all cores), from /proc/stat.
machine_ticks() {
    awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat
}

# Sum of last_seq of the twin streams, from hub1's monitoring port.
stored() {
    local port
    port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/fleet.json"))["hub"]["nodes"][0]["http_port"])' "$1")
    curl -s "http://127.0.0.1:$port/jsz?accounts=true&streams=true" | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(sum(s["state"]["last_seq"] for a in j.get("account_details", []) for s in a.get("stream_detail", [])
          if s["name"] in ("TWIN_STATE", "TWIN_EVENTS", "FLEET_LINK", "TWIN_LIVE")))'
}

# Sends "delay MS" to every vehicle's relay; prints how many took it.
delay_relays() {
    python3 -c '
import json, socket, sys
ok = 0
for v in json.load(open(sys.argv[1] + "/fleet.json"))["vehicles"]:
    port = v.get("relay_control_port")
    if not port: continue
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
            c.sendall(("delay %s\n" % sys.argv[2]).encode())
            ok += c.recv(256).startswith(b"OK")
    except OSError:
        pass
print(ok)' "$1" "$2"
}

online_of() { # status JSON on stdin, VID or "" -> count online (or 1/0 for VID); -1: no answer
    python3 -c '
import json, sys
try: st = json.load(sys.stdin)
except ValueError: print(-1); sys.exit()
vid = sys.argv[1]
if vid: print(sum(1 for v in st if v["vid"] == vid and v.get("online")))
else: print(sum(1 for v in st if v.get("online")))' "$1"
}

printf '| vehicles | up s | online | veh RSS MiB | veh PSS MiB | fleet PSS MiB | hub CPU %% | veh CPU %% | busy %% | hub RSS MiB | hub fds | msg/s | status ms | twin ms | replay ms (msgs) | dash ms | crash: re-up s, started, online | revoke cut / offline ms | down s |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
for n in "${sizes[@]}"; do
    d="$base/fleet-$n"
    rm -rf "$d"
    a=$(now_ms)
    "$aerie" up --vehicles "$n" --telemetry-hz "$hz" --dir "$d" >"$base/up-$n.log" 2>&1
    up_s=$(printf '%.1f' "$(echo "scale=2; ($(now_ms) - $a) / 1000" | bc)")
    online=$(sed -n 's/.*vehicles, \([0-9]*\) online.*/\1/p' "$base/up-$n.log" | tail -1)
    first=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/fleet.json"))["vehicles"][0]["vid"])' "$d")
    mid=$(python3 -c 'import json,sys; v=json.load(open(sys.argv[1]+"/fleet.json"))["vehicles"]; print(v[len(v)//2]["vid"])' "$d")
    if ((rtt > 0)); then
        delayed=$(delay_relays "$d" $((rtt / 2)))
        echo "fleet_scale N=$n: round trip +$rtt ms on $delayed of $n relays" >&2
        ((delayed == n)) || echo "fleet_scale N=$n: only $delayed relays took the delay" >&2
    fi
    # the settle window: CPU and stored messages over it
    hz_ticks=$(getconf CLK_TCK)
    t0=$(hub_ticks "$d") v0=$(veh_ticks "$d") m0=$(machine_ticks) s0=$(stored "$d") w0=$(now_ms)
    sleep "$settle"
    t1=$(hub_ticks "$d") v1=$(veh_ticks "$d") m1=$(machine_ticks) s1=$(stored "$d") w1=$(now_ms)
    hub_cpu=$(python3 -c 'import sys; a=[int(x) for x in sys.argv[1].split()]; b=[int(x) for x in sys.argv[2].split()]
print("%.0f" % (sum(y - x for x, y in zip(a, b)) / len(a) / int(sys.argv[4]) / (int(sys.argv[3]) / 1000) * 100))' "$t0" "$t1" "$((w1 - w0))" "$hz_ticks")
    msgs=$(((s1 - s0) * 1000 / (w1 - w0)))
    # every vehicle process together, percent of one core; the whole machine, percent busy
    veh_cpu=$(python3 -c 'import sys; print("%.0f" % ((int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[4]) / (int(sys.argv[3]) / 1000) * 100))' "$v0" "$v1" "$((w1 - w0))" "$hz_ticks")
    read -r mb0 mt0 <<<"$m0"
    read -r mb1 mt1 <<<"$m1"
    busy=$(((mb1 - mb0) * 100 / (mt1 - mt0 > 0 ? mt1 - mt0 : 1)))
    read -r veh_rss veh_pss fleet_pss hub_rss <<<"$(memory "$d")"
    fds=0
    for pid in $(procs "$d" | awk '$1 == "hub" {print $2}'); do
        f=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
        ((f > fds)) && fds=$f
    done
    echo "fleet_scale N=$n: $(cut -d' ' -f1-3 /proc/loadavg) load, $(free -m | awk '/Mem:/ {print $7}') MiB available" >&2
    st_ms=$(median_ms "$aerie" status --json --dir "$d")
    tw_ms=$(median_ms "$aerie" twin "$first" --dir "$d")
    rp_ms=$(median_ms "$aerie" replay "$first" --since 1h --dir "$d")
    rp_n=$("$aerie" replay "$first" --since 1h --dir "$d" 2>/dev/null | wc -l)
    dport=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/fleet.json"))["dashboard"]["port"])' "$d")
    da_ms=$(median_ms curl -sf -o /dev/null "http://127.0.0.1:$dport/api/fleet")
    # a crash: kill -9 the leaf and the gateway of three vehicles; `up` restarts only those
    victims=$(python3 -c '
import json, sys
f = json.load(open(sys.argv[1] + "/fleet.json"))
v = f["vehicles"]; pick = {v[1]["vid"], v[len(v) // 3]["vid"], v[-1]["vid"]}
print(" ".join(str(p["pid"]) for p in f["processes"] if p.get("vid") in pick and p["kind"] in ("leaf", "gw")))' "$d")
    kill -9 $victims 2>/dev/null
    sleep 1
    a=$(now_ms)
    "$aerie" up --dir "$d" >"$base/reup-$n.log" 2>&1
    re_s=$(printf '%.1f' "$(echo "scale=2; ($(now_ms) - $a) / 1000" | bc)")
    re_started=$(sed -n 's/.*started \([0-9]*\) processes.*/\1/p' "$base/reup-$n.log" | head -1)
    # `up` counts a vehicle online by its last link report, which a killed leaf's may still
    # be: look again once the staleness window has passed
    stale=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/fleet.json")).get("stale","6s").rstrip("s"))' "$d")
    sleep $((stale + 2))
    re_online=$("$aerie" status --json --dir "$d" 2>/dev/null | online_of "")
    # revoke the middle vehicle; wait until status shows it offline
    a=$(now_ms)
    "$aerie" revoke "$mid" --dir "$d" >"$base/revoke-$n.log" 2>&1
    cut_ms=$(($(now_ms) - a))
    # a large local fleet is cut at the vehicle's relay before the hubs reload (cmd_revoke.c)
    relay_ms=$(sed -n 's/.*uplink cut at its relay after \([0-9]*\) ms.*/\1/p' "$base/revoke-$n.log")
    if [ -n "$relay_ms" ]; then
        cut_ms="$relay_ms (done $cut_ms)"
    elif ! grep -q "reports its uplink down" "$base/revoke-$n.log"; then
        cut_ms="$cut_ms (not verified)"
    fi
    rv_ms="-"
    until_ms=$((a + (stale + 30) * 1000))
    while [ "$(now_ms)" -lt "$until_ms" ]; do
        st=$("$aerie" status --json --dir "$d" 2>/dev/null)
        if [ "$(echo "$st" | online_of "$mid")" = 0 ]; then
            rv_ms=$(($(now_ms) - a))
            break
        fi
        sleep 0.2
    done
    others=$(echo "$st" | online_of "")
    rv_ok=$([ "$others" -ge $((online - 1)) ] && echo ok || echo "$others others online")
    a=$(now_ms)
    "$aerie" down --dir "$d" >"$base/down-$n.log" 2>&1
    down_s=$(printf '%.1f' "$(echo "scale=2; ($(now_ms) - $a) / 1000" | bc)")
    left=$(grep -l "AERIE_FLEET_DIR=$d" /proc/[0-9]*/environ 2>/dev/null | wc -l)
    clean=$([ "$left" = 0 ] && echo clean || echo "$left left")
    printf '| %s | %s | %s/%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s (%s) | %s | %s, %s, %s | %s %s | %s %s |\n' \
        "$n" "$up_s" "${online:-?}" "$n" "$veh_rss" "$veh_pss" "$fleet_pss" "$hub_cpu" "$veh_cpu" "$busy" "$hub_rss" "$fds" \
        "$msgs" "$st_ms" "$tw_ms" "$rp_ms" "$rp_n" "$da_ms" "$re_s" "${re_started:-?}" "${re_online:-?}" \
        "$cut_ms / $rv_ms" "$rv_ok" "$down_s" "$clean"
done
echo "logs: $base" >&2
