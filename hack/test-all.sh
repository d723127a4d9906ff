#!/usr/bin/env bash
# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
# Run every test of `make test`, the independent suites side by side, and say what each one cost.
#
# Usage: hack/test-all.sh            (make test runs it after building what the tests need)
#
# The suites run in lanes: a lane runs its phases one after another, the lanes run at the same time.
# A lane keeps about one core busy (a Salt suite spends ~0.9 CPU seconds per second, mostly daemon
# start-ups and salt CLI calls; the rest is waiting), so two lanes fit two cores. They share nothing that
# could collide: free ports are picked per daemon, network namespaces are named after the creating
# process (tests/support/netns.py), every Salt session and e2e system has a temporary folder of its own.
# Each phase's output goes to bin/test-logs/<phase>.log and is printed whole when the phase ends (never
# interleaved with another's; with a single lane it streams); a table of phase times ends the run. The
# first failed phase stops its lane; the other lanes finish, so one run shows every failure.
#
# Environment:
#   NODEALLOW_TEST_LANES  the lanes, ";" between lanes and "," between phases (default below); e.g.
#                         NODEALLOW_TEST_LANES="go,unit" runs only the Go and Python unit tests
set -euo pipefail

# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RERUN="make test"
cd "$REPO_ROOT"

# The Salt 3006 run repeats the master and integration tests whose outcome can depend on the Salt version
# (daemons, loader, events, salt-api, reactor, runner, state and ext_pillar behaviour, minion engines).
# It leaves out what is the same under either Salt, proved by the Salt 3008 run:
# - the benchmarks (test_bench_*): they time our code, nft, ipset and iptables;
# - the host firewalls (firewalld, ufw, nftables.conf reloads) and the namespace helper (test_netns.py);
# - the kernel's verdicts from first apply to retirement (test_fail_closed.py: on 3006 the state's apply,
#   retirement and nodeallow.show run in test_state.py, whose packet test samples the nftables case);
# - the same state run on the ipset and iptables backends (the nftables case stays: the state module,
#   its test mode, last-known-good and pillar handling are the same code for every backend).
SALT_3006_ARGS=(
	--ignore-glob='*/test_bench_*.py'
	--ignore=saltext-nodeallow/tests/integration/test_host_firewalls.py
	--ignore=saltext-nodeallow/tests/integration/test_netns.py
	--ignore=saltext-nodeallow/tests/integration/test_fail_closed.py
	-k 'not ipset and not iptables'
)

# One function per phase; a phase is one command whose output is one log.
phase_lint() { make --no-print-directory lint; }
phase_go() { go test ./... -count=1; }
phase_gobench() { go test -short -run '^$' -bench . -benchtime 1x ./...; }
phase_unit() { bash hack/test-python.sh saltext-nodeallow/tests/unit; }
phase_salt3008() { bash hack/test-python.sh saltext-nodeallow/tests/master saltext-nodeallow/tests/integration; }
phase_salt3006() { salt3006 saltext-nodeallow/tests/master saltext-nodeallow/tests/integration; }
# The same in two halves, for lanes of even length.
phase_salt3006master() { salt3006 saltext-nodeallow/tests/master; }
phase_salt3006integration() { salt3006 saltext-nodeallow/tests/integration; }
salt3006() { NODEALLOW_SALT=3006 bash hack/test-python.sh "$@" "${SALT_3006_ARGS[@]}"; }
# The README's first command in its one-shot mode (build, start everything, walk through, stop).
phase_demo() { DEMO_ONCE=1 bash hack/demo.sh; }
# The latency test is a measurement (printed, never asserted): 3 trials prove the path, `make bench` runs 20.
phase_e2e() { NODEALLOW_E2E_LATENCY_TRIALS=3 bash hack/test-python.sh test/e2e; }

# Two lanes of about the same length (warm CI, estimated from each phase's time alone: ~22 and ~25
# minutes): the Salt 3008 suite and half of the 3006 one in one, everything else in the other, the
# end-to-end suite last (the short phases before it report failures early). The table at the end shows
# what each phase took.
LANES="${NODEALLOW_TEST_LANES:-salt3008,salt3006integration;lint,unit,gobench,go,demo,salt3006master,e2e}"

LOG_DIR="$REPO_ROOT/bin/test-logs"
mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.log "$LOG_DIR"/*.time
PRINT_LOCK="$LOG_DIR/.print.lock"

# run_phase NAME : run phase NAME into its log, then print the log and its time in one piece.
run_phase() {
	local name="$1" started=$SECONDS rc=0
	declare -F "phase_$name" >/dev/null || die "check inputs" "$RERUN" "unknown phase '$name' in NODEALLOW_TEST_LANES"
	log "phase $name started"
	if [[ "$STREAM" == true ]]; then
		"phase_$name" </dev/null 2>&1 | tee "$LOG_DIR/$name.log" || rc=${PIPESTATUS[0]}
	else
		"phase_$name" >"$LOG_DIR/$name.log" 2>&1 </dev/null || rc=$?
	fi
	local took=$((SECONDS - started)) result=passed
	((rc == 0)) || result="FAILED (exit $rc)"
	printf '%s %s %s\n' "$name" "$took" "${result%% *}" >"$LOG_DIR/$name.time"
	{
		flock 9
		printf '\n===== %s: %s in %ss (bin/test-logs/%s.log) =====\n' "$name" "$result" "$took" "$name"
		[[ "$STREAM" == true ]] || cat "$LOG_DIR/$name.log"
		printf '===== end of %s: %s in %ss =====\n' "$name" "$result" "$took"
	} 9>"$PRINT_LOCK"
	return "$rc"
}

# run_lane "A,B,C" : the phases one after another; stop at the first that fails.
run_lane() {
	local phase
	IFS=, read -ra phases <<<"$1"
	for phase in "${phases[@]}"; do
		run_phase "$phase" || return 1
	done
}

started=$SECONDS
pids=()
IFS=';' read -ra lanes <<<"$LANES"
# One lane: nothing to interleave, so its output streams as it comes.
STREAM=false
((${#lanes[@]} > 1)) || STREAM=true
for lane in "${lanes[@]}"; do
	run_lane "$lane" &
	pids+=("$!")
done
failed=0
for pid in "${pids[@]}"; do
	wait "$pid" || failed=1
done

printf '\nnodeallow: test phases (seconds; lanes ran side by side: %s)\n' "$LANES" >&2
cat "$LOG_DIR"/*.time 2>/dev/null | sort -k2,2nr | awk '{ printf "  %-10s %6d  %s\n", $1, $2, $3 }' >&2
printf '  %-10s %6d\n' "wall" "$((SECONDS - started))" >&2
((failed == 0)) || die "tests" "$RERUN" "a phase failed (its log is above and in bin/test-logs/)"
log "every test passed"
