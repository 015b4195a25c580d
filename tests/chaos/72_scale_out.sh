#!/usr/bin/env bash
# Scale-out: three beast processes in one consumer group share 6 partitions
# while beast-load produces; one is killed (-9), the survivors take its
# partitions; a new one is added, the group rebalances again (short: once;
# full: three kill/add rounds). Rebalances lose nothing and store nothing
# twice: every (partition, offset) is in the table exactly once or,
# undecodable, in the DLQ; every process left exits 0 on SIGTERM.
set -u
source "$(dirname "$0")/../lib.sh"
source "$BEAST_ROOT/tests/integration/pipeline_lib.sh"
source "$BEAST_ROOT/plugins/sink_bigquery/tests/bigquery_lib.sh"
source "$(dirname "$0")/chaos_lib.sh"

INVALID_EVERY=97
ROUNDS=$(chaos_size 1 3)
RATE=$(chaos_size 1500 2000)
COUNT=$(chaos_size 30000 180000)
PARTITIONS=$(chaos_partitions 6 "$COUNT")

PIDS=() LOGS=() PORTS=() CONFIGS=()
started=0

# start_member: a new beast process in the group, with its own metrics port.
start_member() {
  local n=$started port
  port=$(free_port)
  chaos_config "$TEST_TMP/beast$n.conf" "$port"
  beast_start "$TEST_TMP/beast$n.conf" "$TEST_TMP/beast$n.log"
  PIDS[n]=$BEAST_PID LOGS[n]="$TEST_TMP/beast$n.log" PORTS[n]=$port CONFIGS[n]="$TEST_TMP/beast$n.conf"
  started=$((started + 1))
}

# assigned LOG: the partitions a member holds by its log (last event wins).
assigned() {
  local last
  last=$(grep -Eo '(assigned|revoked|lost) [0-9]+ partitions' "$1" | tail -1)
  case "$last" in assigned*) awk '{ print $2 }' <<<"$last" ;; *) echo 0 ;; esac
}

# balanced: every live member holds partitions and together they hold all.
balanced() {
  local n total=0 held
  for n in "${!PIDS[@]}"; do
    held=$(assigned "${LOGS[n]}")
    [ "$held" -gt 0 ] || return 1
    total=$((total + held))
  done
  [ "$total" -eq "$PARTITIONS" ]
}

wait_balanced() {
  wait_until 40 balanced || {
    for n in "${!PIDS[@]}"; do tail -5 "${LOGS[n]}"; done
    fail "$1: the group did not settle with ${#PIDS[@]} members holding all $PARTITIONS partitions"
  }
}

wait_progress() {
  local before
  before=$(bq_total_rows "$CHAOS_TOPIC")
  wait_until 30 "[ \$(bq_total_rows $CHAOS_TOPIC) -gt $before ]" || fail "$1: no new rows for 30 s"
}

chaos_setup "$PARTITIONS"
chaos_load "$COUNT" "$RATE" "$INVALID_EVERY"
for _ in 1 2 3; do start_member; done
BEAST_LOG="${LOGS[0]}"
wait_balanced "three members"
wait_progress "three members"
note "3 members share $PARTITIONS partitions: $(for n in "${!PIDS[@]}"; do printf '%s ' "$(assigned "${LOGS[n]}")"; done)"

kills=0 adds=0 retries=0
for ((round = 1; round <= ROUNDS; round++)); do
  members=("${!PIDS[@]}")
  victim=${members[RANDOM % ${#members[@]}]}
  sleep "0.$((RANDOM % 10))"
  process_gone "$LOAD_PID" && fail "the load ended before kill $round: size the test up"
  retries=$((retries + $(chaos_metric "${PORTS[victim]}" beast_sink_retries_total)))
  kill -9 "${PIDS[victim]}"
  wait "${PIDS[victim]}" 2>/dev/null
  unset "PIDS[victim]"
  kills=$((kills + 1))
  wait_balanced "after kill $round"
  wait_progress "after kill $round"
  chaos_verify committed "$PARTITIONS" "$INVALID_EVERY"
  note "round $round: member $victim killed, 2 members took over ($(chaos_figure committed) committed, none ahead of the table)"
  process_gone "$LOAD_PID" && fail "the load ended before add $round: size the test up"
  start_member
  adds=$((adds + 1))
  wait_balanced "after add $round"
  wait_progress "after add $round"
  note "round $round: member $((started - 1)) added, 3 members again"
done
chaos_load_wait
wait_until 90 '[ "$(chaos_committed)" -ge "$COUNT" ]' || fail "committed $(chaos_committed) of $COUNT"
for n in "${!PIDS[@]}"; do
  retries=$((retries + $(chaos_metric "${PORTS[n]}" beast_sink_retries_total)))
done
for n in "${!PIDS[@]}"; do beast_stop "${PIDS[n]}"; done
chaos_verify final "$PARTITIONS" "$INVALID_EVERY"
chaos_audit "${CONFIGS[0]}"
rebalances=$(cat "${LOGS[@]}" | grep -c 'assigned [0-9]* partitions')
deduped=$(emu_stat rows_deduped)
emu_stop
bq_no_sanitizer_reports
note "figures: messages $COUNT, processes $started (kills $kills, adds $adds), assignments $rebalances," \
  "retries $retries, replays absorbed by insertId $deduped, dlq $(chaos_figure dlq)," \
  "duplicates stored $(chaos_figure duplicates_stored)"
