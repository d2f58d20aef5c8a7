#!/usr/bin/env bash
# demo.sh: Multipath TCP surviving the loss of a path, seen with this project's tools.
#
# A "phone" (client namespace) talks to a server over two emulated paths, wifi
# (40 Mbit/s, 10 ms) and cellular (10 Mbit/s, 30 ms). The kernel's MPTCP carries
# an iperf3 transfer over both; after 3 s wifi goes down and the connection goes
# on over cellular. `mptcp capture` watches the client's interfaces and
# `mptcp analyze` then shows the connection, its subflows, the verified join,
# the handover and the reassembled data. Everything stays inside namespaces the
# script creates and removes. Needs root; installs iperf3 and mptcpize if missing.
#
#   sudo ./demo.sh            output in ./out/demo.*
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" -ne 0 ]; then
	echo "demo.sh: needs root (network namespaces)" >&2
	exit 2
fi
missing=()
for pair in iperf3:iperf3 mptcpize:mptcpize ip:iproute2 ethtool:ethtool; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== building mptcp"
mkdir -p bin out
go build -o bin/mptcp ./cmd/mptcp
mptcp=$PWD/bin/mptcp

name=demo$$
trap '"$mptcp" lab down "$name" >/dev/null 2>&1 || true' EXIT INT TERM

echo "== lab: client and server joined by wifi and cellular"
"$mptcp" lab up "$name" \
	--path wifi:rate=40mbit,delay=10ms \
	--path cellular:rate=10mbit,delay=30ms

"$mptcp" lab exec "$name" server -- mptcpize run iperf3 -s -1 >/dev/null &
server=$!
sleep 0.5

echo "== capturing MPTCP on the client (kernel filter from 'mptcp filter')"
rm -f out/demo.pcapng
"$mptcp" lab exec "$name" client -- "$mptcp" capture -i any --write out/demo.pcapng \
	--duration 11s --interval 0 >out/demo.capture.txt 2>&1 &
capture=$!
sleep 1

echo "== iperf3 over MPTCP for 8 s; wifi goes down after 3 s"
( sleep 3; echo "== wifi down"; "$mptcp" lab link "$name" wifi down ) &
"$mptcp" lab exec "$name" client -- mptcpize run iperf3 -c 198.18.1.2 -t 8 -i 1 -f m |
	grep -E 'sec|receiver' || true
wait "$server" || true
wait "$capture" || true

echo
echo "== mptcp analyze out/demo.pcapng"
status=0
"$mptcp" analyze --plot out/demo.svg out/demo.pcapng || status=$?
echo
echo "Files: out/demo.pcapng (capture), out/demo.svg (data sequence per subflow over time)."
echo "Try: $mptcp analyze --packets out/demo.pcapng | less"
exit "$status"
