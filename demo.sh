#!/usr/bin/env bash
# demo.sh: a phone downloads over Wi-Fi and cellular with Multipath TCP, Wi-Fi
# goes away halfway, and the download goes on. The phone is this project's
# userspace MPTCP stack (`mptcp nc`, its interfaces owned by our stack); the
# server is the Linux kernel's MPTCP. The same run with the kernel as the
# phone follows, for comparison. Each run is captured on the server with
# `mptcp capture` and analyzed with `mptcp analyze`: the subflows, the
# verified join, the handover on the timeline, the data rebuilt from the
# capture (its SHA-256 against what the server sent), and a plot.
#
# Paths: wifi 40 Mbit/s, 10 ms each way; cellular 10 Mbit/s, 30 ms (our link
# emulator). Wi-Fi is lost 2 s into a 24 MiB download: the phone's wifi
# interface goes down, as when it leaves the access point.
#
# Needs root (network namespaces). There is no need for sudo: as root, run
# ./demo.sh. Installs iperf3-free dependencies it lacks (iproute2, ethtool,
# mptcpize, netcat-openbsd). Output: a summary on stdout, files in ./out/.
#
#   ./demo.sh            (or: sudo ./demo.sh)
#   DEMO_SIZE=8 DEMO_LOSS_AT=0.6 ./demo.sh   a smaller download (MiB), wifi lost sooner (s): the test suite's run
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" -ne 0 ]; then
	echo "demo.sh: needs root (network namespaces); run it as root, or with sudo where there is one" >&2
	exit 2
fi
missing=()
for pair in mptcpize:mptcpize ip:iproute2 ethtool:ethtool nc:netcat-openbsd; do
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

size=${DEMO_SIZE:-24}
lossAt=${DEMO_LOSS_AT:-2}
name=demo$$
labs=()
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for l in "${labs[@]}"; do "$mptcp" lab down "$l" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

head -c "$((size << 20))" /dev/urandom >out/demo.data
want=$(sha256sum out/demo.data | cut -d' ' -f1)
echo "== $size MiB to download, SHA-256 ${want:0:16}..."

# now: seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }

# longest_stall CSV: the longest time the phone's DATA_ACK of the server's
# data stood still between the first byte and the last (from --plot-data;
# captured at the server, so as the server saw them arrive).
longest_stall() {
	awk -F, '$1=="data_ack" && $3=="server_to_client" {print $5, $6}' "$1" | sort -n |
		awk 'BEGIN{m=0; mt=0} {if (n && $2>off) {g=$1-t; if (g>m) {m=g; mt=t}; t=$1; off=$2} else if (!n) {t=$1; off=$2; n=1}}
			END{printf "%.0f ms (from %.2f s)", m*1000, mt}'
}

# path_bytes CSV ADDR: bytes the server sent on the subflows of the phone's ADDR.
path_bytes() {
	awk -F, -v a="$2" 'NR==1{for(i=1;i<=NF;i++) c[$i]=i; next}
		$c["direction"]=="server_to_client" && index($c["client"], a":")==1 {s+=$c["bytes"]}
		END{printf "%.1f MiB", s/1048576}' "$1"
}

run() { # run KIND: ours or kernel
	local kind=$1 lab=${name}${1:0:1} client=kernel
	[ "$kind" = ours ] && client=user
	labs+=("$lab")
	echo
	echo "== $kind as the phone: lab $lab (wifi 40 Mbit/s 10 ms, cellular 10 Mbit/s 30 ms)"
	"$mptcp" lab up "$lab" --client "$client" \
		--path wifi:rate=40mbit,delay=10ms --path cellular:rate=10mbit,delay=30ms >/dev/null
	"$mptcp" lab exec "$lab" server -- mptcpize run nc -l -N 5001 <out/demo.data &
	pids+=($!)
	local server=$!
	rm -f "out/demo-$kind.pcapng"
	# The capture runs on the server: our phone sends through packet sockets
	# that bypass the kernel's queues, which a capture on the phone would
	# not see (only what it receives).
	"$mptcp" lab exec "$lab" server -- "$mptcp" capture -i any --interval 0 --write "out/demo-$kind.pcapng" \
		>"out/demo-$kind.capture.txt" 2>&1 &
	pids+=($!)
	local capture=$!
	sleep 1
	local t0 t1
	t0=$(now)
	if [ "$kind" = ours ]; then
		"$mptcp" lab exec "$lab" client -- "$mptcp" nc -d -v --json \
			--path wifi=198.18.1.1/24,gw=198.18.1.2 --path cellular=198.18.2.1/24,gw=198.18.2.2 \
			198.18.1.2 5001 >"out/demo-$kind.recv" 2>"out/demo-$kind.nc.log" &
	else
		"$mptcp" lab exec "$lab" client -- mptcpize run nc -d 198.18.1.2 5001 >"out/demo-$kind.recv" &
	fi
	local phone=$!
	pids+=($phone)
	(sleep "$lossAt"; "$mptcp" lab exec "$lab" client -- ip link set wifi down) &
	wait "$phone"
	t1=$(now)
	wait "$server" || true
	sleep 0.5
	# Interrupt the capture itself (not the lab exec around it), so that it
	# writes the last packets out before it exits.
	pkill -INT -f "^$mptcp capture .*--write out/demo-$kind.pcapng" 2>/dev/null || true
	wait "$capture" || true
	"$mptcp" lab down "$lab" >/dev/null 2>&1 || true

	local got
	got=$(sha256sum "out/demo-$kind.recv" | cut -d' ' -f1)
	"$mptcp" analyze --hash --plot "out/demo-$kind.svg" --plot-data "out/demo-$kind.plot.csv" \
		"out/demo-$kind.pcapng" >"out/demo-$kind.analyze.txt" 2>&1 || true
	"$mptcp" analyze --csv "out/demo-$kind.pcapng" >"out/demo-$kind.subflows.csv" 2>/dev/null || true
	local rebuilt=no
	grep -q "$want" "out/demo-$kind.analyze.txt" && rebuilt=yes
	eval "${kind}_time=\$(awk -v a=$t0 -v b=$t1 'BEGIN{printf \"%.2f s\", b-a}')"
	eval "${kind}_sha=\$([ \"$got\" = \"$want\" ] && echo equal || echo DIFFERENT)"
	eval "${kind}_rebuilt=$rebuilt"
	eval "${kind}_stall=\$(longest_stall out/demo-$kind.plot.csv)"
	eval "${kind}_wifi=\$(path_bytes out/demo-$kind.subflows.csv 198.18.1.1)"
	eval "${kind}_cell=\$(path_bytes out/demo-$kind.subflows.csv 198.18.2.1)"
	echo "   received $(stat -c %s "out/demo-$kind.recv") bytes; analysis:"
	grep -E "^connection|^  subflows|^    #|hmac|^  events|handover|subflow_(open|close)|remove_addr|SHA-256|sha256" \
		"out/demo-$kind.analyze.txt" | grep -v "^    [+]0\.0" | head -24 | sed 's/^/   /'
}

run ours
run kernel

echo
echo "== Wi-Fi lost ${lossAt} s into a $size MiB download (phone side: our userspace stack vs the kernel)"
printf '%-38s %-26s %s\n' "" "ours (mptcp nc)" "kernel (mptcpize nc)"
printf '%-38s %-26s %s\n' "data received = data sent (SHA-256)" "$ours_sha" "$kernel_sha"
printf '%-38s %-26s %s\n' "rebuilt from the capture, SHA-256 equal" "$ours_rebuilt" "$kernel_rebuilt"
printf '%-38s %-26s %s\n' "time to complete" "$ours_time" "$kernel_time"
printf '%-38s %-26s %s\n' "longest stall (phone's DATA_ACK)" "$ours_stall" "$kernel_stall"
printf '%-38s %-26s %s\n' "over wifi" "$ours_wifi" "$kernel_wifi"
printf '%-38s %-26s %s\n' "over cellular" "$ours_cell" "$kernel_cell"
echo
echo "Our phone sees its wifi interface go down and tells the server at once (REMOVE_ADDR): the"
echo "server stops sending there and resends what wifi had in flight on cellular. The kernel's phone"
echo "does not: the server finds out when its retransmissions on wifi time out."
echo
echo "Files: out/demo-ours.svg, out/demo-kernel.svg (data sequence and goodput per subflow over time),"
echo "out/demo-*.pcapng (captures), out/demo-*.analyze.txt, out/demo-ours.nc.log (nc -v --json)."
[ "$ours_sha" = equal ] && [ "$kernel_sha" = equal ] && [ "$ours_rebuilt" = yes ]
