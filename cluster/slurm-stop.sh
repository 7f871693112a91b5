#!/usr/bin/env bash
# Stop the single-node test Slurm started by cluster/slurm-local.sh:
# slurmd, then slurmctld, then munged. Each gets a bounded wait after SIGTERM
# and is killed with SIGKILL if it is still there.
#
# Usage: cluster/slurm-stop.sh [--keep-munge]
#   --keep-munge   leave munged running (slurm-local.sh uses this on restart)
#
# Environment: SLURM_STOP_WAIT  seconds to wait for each daemon (default 20)
set -euo pipefail

usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
}

keep_munge=0
while [ "$#" -gt 0 ]; do
    case "$1" in
        --keep-munge) keep_munge=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "slurm-stop: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

wait_s="${SLURM_STOP_WAIT:-20}"
case "$wait_s" in
    ''|*[!0-9]*) echo "slurm-stop: SLURM_STOP_WAIT must be a whole number of seconds" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
    echo "slurm-stop: must run as root" >&2
    exit 1
fi

# pids of running processes whose command name is exactly $1. The pid file is
# tried first; the exact-name lookup covers daemons started with another pid
# file (or whose pid file was lost).
daemon_pids() {
    local name="$1" pidfile="$2" pid comm
    if [ -r "$pidfile" ]; then
        pid="$(tr -dc '0-9' <"$pidfile")"
        if [ -n "$pid" ] && [ -r "/proc/$pid/comm" ]; then
            comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
            if [ "$comm" = "$name" ]; then
                echo "$pid"
            fi
        fi
    fi
    pgrep -x -- "$name" 2>/dev/null || true
}

# alive PID... -> prints the pids still alive
alive() {
    local p
    for p in "$@"; do
        if kill -0 "$p" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != "Z" ]; then
            echo "$p"
        fi
    done
}

stop_daemon() {
    local name="$1" pidfile="$2" i
    local -a pids left
    mapfile -t pids < <(daemon_pids "$name" "$pidfile" | sort -un)
    if [ "${#pids[@]}" -eq 0 ]; then
        echo "slurm-stop: $name not running"
        rm -f -- "$pidfile"
        return 0
    fi
    echo "slurm-stop: stopping $name (pid ${pids[*]})"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < wait_s * 4; i++)); do
        mapfile -t left < <(alive "${pids[@]}")
        if [ "${#left[@]}" -eq 0 ]; then
            rm -f -- "$pidfile"
            return 0
        fi
        sleep 0.25
    done
    mapfile -t left < <(alive "${pids[@]}")
    if [ "${#left[@]}" -gt 0 ]; then
        echo "slurm-stop: $name did not stop within ${wait_s}s, sending SIGKILL to ${left[*]}" >&2
        kill -KILL "${left[@]}" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f -- "$pidfile"
}

stop_daemon slurmd /run/slurmd.pid
stop_daemon slurmctld /run/slurmctld.pid
if [ "$keep_munge" -eq 0 ]; then
    stop_daemon munged /run/munge/munged.pid
fi
echo "slurm-stop: done"
