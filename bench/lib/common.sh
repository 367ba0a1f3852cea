# shellcheck shell=bash disable=SC2034  # variables here are used by the scripts that source this file
# Helpers for bench/run.sh: logging, process bookkeeping, /proc readings, bounded waits.
# Sourced, not executed. Every wait here is bounded in iterations; nothing loops forever.

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- processes we started -------------------------------------------------------------------------------------
# Only these are ever signalled: cleanup never looks processes up by name. Each pid is remembered with its start
# time (field 22 of /proc/PID/stat), so that a pid reused by someone else's process after ours exited is never
# signalled.
declare -A PID_START=()

# proc_start PID: the start time of a live (non-zombie) process; fails if there is none.
proc_start() {
  local stat rest
  { stat=$(<"/proc/$1/stat"); } 2>/dev/null || return 1
  rest=${stat##*) }
  read -r -a f <<<"$rest"    # f[0] is field 3 (state); field 22 (starttime) is f[19]
  [[ "${f[0]}" != Z ]] || return 1
  echo "${f[19]}"
}

remember_pid() {
  local start
  start=$(proc_start "$1") || return 0   # already gone: nothing to clean up
  PID_START[$1]=$start
}

# pid_alive PID: a process we started is still running.
pid_alive() {
  [[ -n "$1" && -n "${PID_START[$1]:-}" ]] || return 1
  [[ "$(proc_start "$1" 2>/dev/null)" == "${PID_START[$1]}" ]]
}

# stop_pids PID...: SIGTERM, up to 5 s for them to exit, then SIGKILL; forgets them.
stop_pids() {
  local pid alive i
  # `|| true`: a process may exit between the check and the signal (an nginx worker follows its master).
  for pid in "$@"; do pid_alive "$pid" && { kill -TERM "$pid" 2>/dev/null || true; }; done
  for ((i = 0; i < 50; i++)); do
    alive=0
    for pid in "$@"; do pid_alive "$pid" && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "$@"; do
    pid_alive "$pid" && { kill -KILL "$pid" 2>/dev/null || true; }
    unset "PID_START[$pid]"
  done
  return 0
}

# Functions cleanup runs after stopping the processes above, for what is not one of them (a PostgreSQL that pg_ctl
# started: stop_all_postgres in targets.sh).
CLEANUP_HOOKS=()

# Installed by run.sh: trap cleanup EXIT; INT and TERM exit through it.
cleanup() {
  local status=$? hook
  trap - EXIT
  if ((${#PID_START[@]})); then
    log "stopping ${#PID_START[@]} processes started by the harness"
    stop_pids "${!PID_START[@]}"
  fi
  for hook in "${CLEANUP_HOOKS[@]}"; do "$hook" || true; done
  exit "$status"
}

# --- /proc readings -------------------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID: utime+stime of the whole process (all threads), in clock ticks.
cpu_ticks() {
  local stat rest
  { stat=$(<"/proc/$1/stat"); } 2>/dev/null || return 1
  rest=${stat##*) }          # the command name may contain spaces; fields after it are fixed
  read -r -a f <<<"$rest"    # f[0] is field 3 (state), so utime (14) is f[11] and stime (15) is f[12]
  echo $((f[11] + f[12]))
}

# sys_ticks PID: stime of the whole process (all threads), in clock ticks: the part of cpu_ticks spent in the kernel.
sys_ticks() {
  local stat rest
  { stat=$(<"/proc/$1/stat"); } 2>/dev/null || return 1
  rest=${stat##*) }
  read -r -a f <<<"$rest"
  echo "${f[12]}"
}

# status_kb PID FIELD: a kB value from /proc/PID/status (VmRSS, VmHWM).
status_kb() {
  local key value _
  while read -r key value _; do
    if [[ "$key" == "$2:" ]]; then echo "$value"; return 0; fi
  done <"/proc/$1/status"
  return 1
}

# wait_cpu_quiet PID POLLS MAX_TICKS: wait until the process has used at most MAX_TICKS clock ticks over the last
# POLLS x 0.1 s (at most 15 s in all), so that work finished after the load generator stopped is still counted.
# MAX_TICKS > 0 tolerates a process that polls in the background when idle (a few ticks per second): waiting for
# complete silence would then always hit the 15 s bound and charge that idle time to the run.
wait_cpu_quiet() {
  local pid=$1 polls=$2 max_ticks=$3 i
  local -a seen=()
  seen[0]=$(cpu_ticks "$pid") || return 0
  for ((i = 1; i <= 150; i++)); do
    sleep 0.1
    seen[i]=$(cpu_ticks "$pid") || return 0
    if ((i >= polls && seen[i] - seen[i - polls] <= max_ticks)); then return 0; fi
  done
  log "warning: pid $pid still busy 15 s after the load stopped"
}

# --- ports ----------------------------------------------------------------------------------------------------
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT PID: until something accepts on 127.0.0.1:PORT (at most 10 s), failing early if PID dies.
wait_port() {
  local i
  for ((i = 0; i < 200; i++)); do
    port_in_use "$1" && return 0
    pid_alive "$2" || return 1
    sleep 0.05
  done
  return 1
}

# --- durations ------------------------------------------------------------------------------------------------
# seconds DURATION: wrk-style duration (10, 10s, 2m) to whole seconds.
seconds() {
  case "$1" in
    *m) echo $((${1%m} * 60)) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}
