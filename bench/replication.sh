#!/bin/bash
# Replication figures: publish N generated records with sluice-source into a
# fresh broker in four setups; then a replica's catch-up from nothing.
B=${SLUICE_BUILD:-$(dirname "$0")/../build}
N=${N:-300000}
run() {
  label=$1; shift
  rm -rf bp br
  $B/broker/sluice-broker --data bp --listen tcp://127.0.0.1:19600 "$@" > bp.log 2>&1 & P=$!
  R=
  if [ -n "$REPLICA" ]; then
    $B/broker/sluice-broker --data br --listen tcp://127.0.0.1:19610 --replica-of tcp://127.0.0.1:19602 > br.log 2>&1 & R=$!
  fi
  sleep 0.5
  s=$(date +%s.%N)
  $B/source/sluice-source -b tcp://127.0.0.1:19600 --stream s --name p --generate $N 2>/dev/null
  e=$(date +%s.%N)
  echo "$label: $(echo "$N / ($e - $s)" | bc) records/s ($(echo "$e - $s" | bc) s)"
  kill $P $R; wait $P $R 2>/dev/null
}
REPLICA= run "no replication            "
REPLICA= run "journal on, no replica    " --replication tcp://127.0.0.1:19602
REPLICA=1 run "replica, --sync-replicas 0" --replication tcp://127.0.0.1:19602
REPLICA=1 run "replica, --sync-replicas 1" --replication tcp://127.0.0.1:19602 --sync-replicas 1
# catch-up: a primary with N records, then a replica from nothing
rm -rf bp br
$B/broker/sluice-broker --data bp --listen tcp://127.0.0.1:19600 --replication tcp://127.0.0.1:19602 > bp.log 2>&1 & P=$!
sleep 0.5
$B/source/sluice-source -b tcp://127.0.0.1:19600 --stream s --name p --generate $N 2>/dev/null
s=$(date +%s.%N)
$B/broker/sluice-broker --data br --listen tcp://127.0.0.1:19610 --replica-of tcp://127.0.0.1:19602 > br.log 2>&1 & R=$!
while ! $B/cli/sluice streams --broker tcp://127.0.0.1:19610 2>/dev/null | grep -q " $N "; do sleep 0.05; done
e=$(date +%s.%N)
echo "catch-up of $N records ($(du -sh bp | cut -f1) store): $(echo "$e - $s" | bc) s, $(echo "$N / ($e - $s)" | bc) records/s"
kill $P $R; wait $P $R 2>/dev/null
