#!/usr/bin/env bash
# The agent's footprint at its default intervals: a release `spectra agent` reporting to a
# `spectra serve` on loopback, measured from /proc for DURATION seconds (default 600): peak and
# final RSS, and CPU time as a share of one core. Then the same with the heavy schedules firing
# often (applications every 60 s) when HEAVY=1.
#
#   benches/agent-footprint.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"
cargo build --release --quiet --bin spectra -p spectra-cli
spectra="$CARGO_TARGET_DIR/release/spectra"
duration="${1:-600}"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

token="footprint-enrollment-token-0123"
SPECTRA_ENROLLMENT_TOKEN="$token" "$spectra" serve --listen 127.0.0.1:0 --db "$work/hub.db" \
  >"$work/serve.out" 2>"$work/serve.log" &
for _ in $(seq 100); do
  url=$(sed -n 's/^spectra serve: listening on //p' "$work/serve.out")
  [ -n "$url" ] && break
  sleep 0.1
done
config="$work/agent.toml"
if [ "${HEAVY:-0}" = 1 ]; then
  printf '[collectors]\napplications = "60s"\nservices = "10s"\n' >"$config"
else
  : >"$config"
fi
"$spectra" agent --server "$url" --enroll-token "$token" --state-dir "$work/agent" \
  --config "$config" 2>"$work/agent.log" &
agent=$!
sleep 5 # enrolled, first samples taken: measure the steady state from here
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$agent/stat"; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$agent/status"; }
start_cpu=$(cpu)
start=$(date +%s.%N)
peak=0
for ((t = 0; t < duration; t += 5)); do
  sleep 5
  now=$(rss)
  [ "$now" -gt "$peak" ] && peak=$now
done
end=$(date +%s.%N)
end_cpu=$(cpu)
final=$(rss)
sent=$("$spectra" agent status --state-dir "$work/agent" | awk -F': ' '/envelopes_sent/ {gsub(",", "", $2); print $2}')
awk -v c0="$start_cpu" -v c1="$end_cpu" -v t0="$start" -v t1="$end" -v hz="$ticks" \
    -v peak="$peak" -v final="$final" -v sent="$sent" -v heavy="${HEAVY:-0}" 'BEGIN {
  wall = t1 - t0; cpu = (c1 - c0) / hz
  printf "agent, %s schedules, %.0f s: CPU %.2f s = %.3f %% of one core; RSS peak %.1f MB, final %.1f MB; %d envelopes sent\n",
    (heavy == 1 ? "heavy" : "default"), wall, cpu, 100 * cpu / wall, peak / 1024, final / 1024, sent
}'
