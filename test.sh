#!/usr/bin/env bash
# test.sh runs the whole test suite on a fresh machine: it installs what the
# tests need (Debian packages), then checks formatting, vets, runs every test
# with the race detector and runs each fuzz target for a bounded time.
#
#   ./test.sh                 everything (what CI runs)
#   FUZZTIME=30s ./test.sh    longer fuzzing
#   SKIP_FUZZ=1 ./test.sh     no fuzzing
#   SKIP_DEMO=1 ./test.sh     no demo smoke test
#   ./test.sh ./option/...    only these packages (tests and their fuzz targets)
set -euo pipefail
cd "$(dirname "$0")"

FUZZTIME=${FUZZTIME:-10s}
PKGS=("$@")
[ ${#PKGS[@]} -gt 0 ] || PKGS=(./...)

step() { printf '\n=== %s\n' "$*"; }

# Debian packages the tests use: tshark and tcpdump are the independent check
# of what we put on the wire; iproute2/ethtool/iperf3 build and measure the lab;
# netcat is the kernel-side peer in the README's `mptcp nc` examples.
need=()
for pair in tshark:tshark tcpdump:tcpdump ip:iproute2 ethtool:ethtool iperf3:iperf3 \
	editcap:tshark capinfos:tshark nstat:iproute2 ss:iproute2 ping:iputils-ping \
	mptcpize:mptcpize nc:netcat-openbsd; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ]; then
		step "installing ${need[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
	else
		echo "test.sh: missing ${need[*]} and not root: tests that need them will skip" >&2
	fi
fi

step "go version"
go version

step "gofmt -l"
unformatted=$(gofmt -l . | grep -v '^vendor/' || true)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet "${PKGS[@]}"

step "go test -race"
go test -race -count=1 -timeout 40m "${PKGS[@]}"

full=""
[ ${#PKGS[@]} -eq 1 ] && [ "${PKGS[0]}" = ./... ] && full=1

if [ -n "$full" ]; then
	# Transfers too long for the race detector (built with !race): 100 MB each
	# way between our stack and the kernel.
	step "long interop tests (no -race)"
	go test -count=1 -timeout 20m -run 'KernelInterop100MB' ./stack
fi

if [ -z "${SKIP_FUZZ:-}" ]; then
	step "fuzz targets, $FUZZTIME each"
	for pkg in $(go list "${PKGS[@]}"); do
		for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
			echo "--- $pkg $target"
			log=$(mktemp)
			if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1 | tee "$log"; then
				# A crasher is a failure. Without one, a bare "context deadline
				# exceeded" at the end of a duration -fuzztime is a race in Go's
				# fuzzing coordinator (golang/go#75804, unfixed in Go 1.26):
				# fuzz again with a count budget, which has no deadline to race.
				if grep -q 'Failing input written to' "$log"; then
					rm -f "$log"; exit 1
				fi
				echo "--- $pkg $target: fuzzing coordinator error without a failing input; fuzzing again with a count budget"
				go test -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZCOUNT:-100000x}" "$pkg"
			fi
			rm -f "$log"
		done
	done
fi
if [ -z "${SKIP_DEMO:-}" ] && [ "$(id -u)" -eq 0 ] && [ -n "$full" ]; then
	# The README's first command (a smaller download): both phones' data
	# intact and rebuilt from the captures (demo.sh exits non-zero otherwise),
	# a verified join and the handover in each analysis, our phone's
	# REMOVE_ADDR when its wifi went down.
	step "demo smoke test (DEMO_SIZE=8 DEMO_LOSS_AT=0.6 ./demo.sh)"
	mkdir -p out
	DEMO_SIZE=8 DEMO_LOSS_AT=0.6 ./demo.sh >out/demo.log 2>&1 || { cat out/demo.log; echo "demo.sh failed"; exit 1; }
	for want in "grouping verified by keys" "join (hmac verified)" "handover" "remove_addr" \
		"data received = data sent (SHA-256)    equal                      equal" \
		"rebuilt from the capture, SHA-256 equal yes                        yes"; do
		grep -qF "$want" out/demo.log || { cat out/demo.log; echo "demo output lacks: $want"; exit 1; }
	done
	[ "$(grep -c 'handover' out/demo.log)" -ge 2 ] || { cat out/demo.log; echo "demo: a handover missing"; exit 1; }
	echo "demo ok:"; grep -E "^(time to complete|longest stall)" out/demo.log
fi
step "all checks passed"
