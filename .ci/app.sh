# Sourced by .ci/bench.sh and .ci/security-scan.sh: a release `chaat serve` with its own
# private PostgreSQL cluster in a fresh temporary directory, for a script's run.
#
#   start_app <release bin dir> <port> <name>   sets $dir, $app_pid; waits for /healthz
#   stop_app                                    SIGTERM (the app stops its cluster too)
#   start_instance <release bin dir> <port>     one more instance on the first one's
#                                               database (appends to $instance_pids)
#   stop_instances                              SIGTERM to those
#
# Throttles and the stream caps are lifted: these scripts sign up and log in many people
# from one address, and `fanout` holds 10,000 streams of 400 people from 127.0.0.1;
# throttling and the caps have tests of their own. The app's log is $dir/app.log.
start_app() {
    local bin=$1 port=$2 name=$3
    dir=$(mktemp -d "/tmp/chaat-$name.XXXXXX")
    chmod 755 "$dir"     # the cluster runs as `postgres` when we are root
    CHAAT_DATA_DIR=$dir CHAAT_BIND=127.0.0.1:$port RUST_LOG=${APP_LOG:-warn} lifted_limits \
        "$bin/chaat" serve >"$dir/app.log" 2>&1 &
    app_pid=$!
    wait_healthy "$port" "$app_pid" "$dir/app.log"
}

# lifted_limits COMMAND... &: runs COMMAND with the throttles and stream caps lifted.
# Only in the background: a function run with `&` is a subshell, which `exec` replaces
# by COMMAND, so `$!` is the app's own pid (its RSS and CPU are what the load generator
# reads, and SIGTERM reaches it rather than a shell that would not pass it on).
lifted_limits() {
    CHAAT_SIGNUPS_PER_ADDR=1000000 CHAAT_LOGIN_ATTEMPTS_PER_ADDR=1000000 CHAAT_LOGIN_FAILURES_PER_USER=1000000 \
    CHAAT_STREAMS_PER_PERSON=1000000 CHAAT_STREAMS_PER_ADDR=1000000 \
    CHAAT_LOGIN_FAILURES_PER_BROWSER=1000000 CHAAT_LOGIN_FAILURES_PER_ADDR_AND_USER=1000000 \
    CHAAT_FRIEND_REQUESTS_PER_10_MIN=1000000 CHAAT_MESSAGES_PER_10_S=1000000 \
        exec "$@"
}

# wait_healthy PORT PID LOG: until /healthz answers (30 s at most, or the process died).
wait_healthy() {
    local port=$1 pid=$2 log=$3
    for _ in $(seq 1 300); do
        curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$log"; return 1; }
        sleep 0.1
    done
    echo "the app did not come up"; cat "$log"; return 1
}

instance_pids=()
start_instance() {
    local bin=$1 port=$2
    DATABASE_URL="postgresql://app@/chaat?host=$dir/run" CHAAT_BIND=127.0.0.1:$port RUST_LOG=${APP_LOG:-warn} \
        lifted_limits "$bin/chaat" serve >"$dir/app-$port.log" 2>&1 &
    instance_pids+=($!)
    wait_healthy "$port" "$!" "$dir/app-$port.log"
}

stop_instances() {
    local pid
    for pid in "${instance_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${instance_pids[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
}

stop_app() {
    if [ -n "${app_pid:-}" ] && kill -0 "$app_pid" 2>/dev/null; then
        kill -TERM "$app_pid"
        for _ in $(seq 1 100); do kill -0 "$app_pid" 2>/dev/null || break; sleep 0.1; done
    fi
}
