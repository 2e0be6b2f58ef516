# Sourced by .ci/bench.sh and .ci/security-scan.sh: a release `chaat serve` with its own
# private PostgreSQL cluster in a fresh temporary directory, for a script's run.
#
#   start_app <release bin dir> <port> <name>   sets $dir, $app_pid; waits for /healthz
#   stop_app                                    SIGTERM (the app stops its cluster too)
#
# Throttles and the stream caps are lifted: these scripts sign up and log in many people
# from one address, and `fanout` holds 10,000 streams of 400 people from 127.0.0.1;
# throttling and the caps have tests of their own. The app's log is $dir/app.log.
start_app() {
    local bin=$1 port=$2 name=$3
    dir=$(mktemp -d "/tmp/chaat-$name.XXXXXX")
    chmod 755 "$dir"     # the cluster runs as `postgres` when we are root
    CHAAT_DATA_DIR=$dir CHAAT_BIND=127.0.0.1:$port RUST_LOG=${APP_LOG:-warn} \
    CHAAT_SIGNUPS_PER_ADDR=1000000 CHAAT_LOGIN_ATTEMPTS_PER_ADDR=1000000 CHAAT_LOGIN_FAILURES_PER_USER=1000000 \
    CHAAT_STREAMS_PER_PERSON=1000000 CHAAT_STREAMS_PER_ADDR=1000000 \
    CHAAT_LOGIN_FAILURES_PER_BROWSER=1000000 CHAAT_LOGIN_FAILURES_PER_ADDR_AND_USER=1000000 \
    CHAAT_FRIEND_REQUESTS_PER_10_MIN=1000000 CHAAT_MESSAGES_PER_10_S=1000000 \
        "$bin/chaat" serve >"$dir/app.log" 2>&1 &
    app_pid=$!
    for _ in $(seq 1 300); do
        curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
        kill -0 "$app_pid" 2>/dev/null || { cat "$dir/app.log"; return 1; }
        sleep 0.1
    done
    echo "the app did not come up"; cat "$dir/app.log"; return 1
}

stop_app() {
    if [ -n "${app_pid:-}" ] && kill -0 "$app_pid" 2>/dev/null; then
        kill -TERM "$app_pid"
        for _ in $(seq 1 100); do kill -0 "$app_pid" 2>/dev/null || break; sleep 0.1; done
    fi
}
