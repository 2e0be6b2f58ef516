#!/usr/bin/env bash
# `make security-scan`: sqlmap (pinned, .ci/sqlmap-requirements.txt) against every form
# field, query parameter, path segment and the session cookie of SPEC 2 that takes user
# input, on a release build of Chaat with its own private PostgreSQL in a temporary
# directory, logged in. Exits non-zero if sqlmap finds anything injectable, or if a
# target could not be scanned to the end. Not part of `make test`: it takes minutes.
# Everything stays on 127.0.0.1. The log is $CARGO_TARGET_DIR/security-scan/scan.log,
# each target's sqlmap output beside it.
#
# Knobs (environment): SCAN_PORT, SCAN_NO_BUILD=1 (use the last release build),
# SCAN_LEVEL (3), SCAN_RISK (2), SCAN_TARGET_SECONDS (time limit per target, 600),
# SCAN_ONLY (an extended regexp: scan only the targets whose name matches).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
port=${SCAN_PORT:-18441}
level=${SCAN_LEVEL:-3}
risk=${SCAN_RISK:-2}
per_target=${SCAN_TARGET_SECONDS:-600}
only=${SCAN_ONLY:-.}
out=$CARGO_TARGET_DIR/security-scan
venv=$CARGO_TARGET_DIR/sqlmap-venv
base=http://127.0.0.1:$port
password='scan-password-1'

rm -rf "$out"
mkdir -p "$out"
exec > >(tee "$out/scan.log") 2>&1

# --- sqlmap, installed by version and hash into a venv under target/
wanted=$(sed -n 's/^sqlmap==\([^ ]*\).*/\1/p' .ci/sqlmap-requirements.txt)
if ! "$venv/bin/sqlmap" --version 2>/dev/null | grep -q "^$wanted"; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --require-hashes --no-deps -r .ci/sqlmap-requirements.txt
fi
echo "== sqlmap $("$venv/bin/sqlmap" --version), level $level, risk $risk, $(date -u '+%Y-%m-%d %H:%M UTC')"

# --- the app: release build, private cluster in a temporary directory
[ "${SCAN_NO_BUILD:-0}" = 1 ] || cargo build --release --locked --bin chaat
. .ci/app.sh
dir= app_pid=
stop() {
    stop_app
    [ -z "$dir" ] || { cp "$dir/app.log" "$out/app.log" 2>/dev/null || true; rm -rf "$dir"; }
}
trap stop EXIT
start_app "$CARGO_TARGET_DIR/release" "$port" scan
echo "== app pid $app_pid on $base"

# --- people, friendships, chats and a message, through the real routes (curl)
jar() { printf '%s/%s.jar' "$dir" "$1"; }
page() { curl -sS -b "$(jar "$1")" -c "$(jar "$1")" "$base$2"; }
# The session's CSRF token: /settings shows it to people, /login to visitors.
token() { { page "$1" /settings; page "$1" /login; } | grep -o 'name="csrf_token" value="[^"]*"' | head -1 | cut -d'"' -f4; }
# The cookie that carries WHO's token, as a Cookie header: a person's session, or a
# visitor's signed form cookie (visitors have no session row until they log in).
cookie_of() {
    local name=chaat_session
    [ "$1" = visitor ] && name=chaat_form
    awk -v n="$name" '$6 == n { print $6 "=" $7 }' "$(jar "$1")"
}
# post WHO PATH FIELD=VALUE...: expects a 303 and prints where it points.
post() {
    local who=$1 path=$2 kv answer
    shift 2
    local fields=()
    for kv in "$@"; do fields+=(--data-urlencode "$kv"); done
    answer=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' -b "$(jar "$who")" -c "$(jar "$who")" \
        -H "X-CSRF-Token: $(token "$who")" "${fields[@]}" "$base$path")
    [ "${answer%% *}" = 303 ] || { echo "setup: POST $path as $who answered $answer"; exit 1; }
    echo "${answer#* }" | sed "s|^$base||"
}
befriend() { post "$1" /friend-requests to="$2" greeting=hi >/dev/null; post "$2" /friend-requests to="$1" >/dev/null; }
uuid_in() { grep -o "$1/[0-9a-f-]\{36\}" | head -1 | sed "s|^$1/||"; }

for who in alice bob carol dave erin pat; do
    post "$who" /signup username="$who" password="$password" password_confirm="$password" >/dev/null
done
befriend alice bob
befriend alice carol
befriend alice erin
post dave /friend-requests to=alice greeting='hello alice' >/dev/null      # left pending
direct=$(post alice /chats/direct username=bob | sed 's|^/chats/||')
group=$(post alice /chats/group name=team members=bob | sed 's|^/chats/||')
post alice "/chats/$direct/messages" text='hello bob' client_id="$(cat /proc/sys/kernel/random/uuid)" >/dev/null
request=$(page alice /friends | uuid_in /friend-requests)
alice_id=$(page alice "/chats/$direct" | grep -o 'data-sender="[0-9a-f-]\{36\}"' | head -1 | cut -d'"' -f2)
page visitor /login >/dev/null        # a visitor's signed form cookie with a token, for signup and login
echo "== direct chat $direct, group $group, pending request $request, alice $alice_id"
for value in "$direct" "$group" "$request" "$alice_id"; do
    [[ $value =~ ^[0-9a-f-]{36}$ ]] || { echo "setup failed: '$value' is not an id"; exit 1; }
done

# --- the scan: one sqlmap run per target
# 404 is an answer here, not an error: ids that are not ours (or not ids) are 404 by
# design, and a base request that removed someone meets 404 the next time.
common=(--batch --flush-session --disable-coloring --dbms=PostgreSQL --level="$level" --risk="$risk"
        --time-sec=2 --timeout=15 --retries=1 --ignore-redirects --drop-set-cookie --skip-waf
        --ignore-code=404 --output-dir="$out/sqlmap")
results=()
failed=0
# scan NAME WHO URL DATA PARAMS: DATA empty means GET; PARAMS empty means the `*` in URL.
scan() {
    local name=$1 who=$2 url=$3 data=$4 params=$5
    [[ $name =~ $only ]] || return 0
    local cookie tok
    cookie=$(cookie_of "$who")
    tok=$(token "$who")
    local args=("${common[@]}" -u "$base$url" --cookie="$cookie")
    [ -n "$data" ] && args+=(--data="$data" -H "X-CSRF-Token: $tok")
    [ -n "$params" ] && args+=(-p "$params")
    local log="$out/$name.log" started=$SECONDS verdict
    echo; echo "== $name: ${data:+POST }$url ${data:+[$data] }${params:+-p $params}"
    TERM=dumb timeout --signal=INT --kill-after=30 "$per_target" "$venv/bin/sqlmap" "${args[@]}" >"$log" 2>&1 || true
    if grep -q "identified the following injection point" "$log"; then
        verdict=INJECTABLE; failed=1
        sed -n '/identified the following injection point/,/^---$/p' "$log"
    elif grep -q "all tested parameters do not appear to be injectable" "$log"; then
        verdict=clean
    else
        verdict="NOT COMPLETED"; failed=1
        tail -15 "$log"
    fi
    # A scan that lost its session (or form cookie) only met 403s and /login: it proves nothing.
    if [ "$(curl -s --cookie "$cookie" "$base/settings" "$base/login" | grep -o 'name="csrf_token" value="[^"]*"' | head -1 | cut -d'"' -f4)" != "$tok" ]; then
        verdict="SESSION LOST"; failed=1
    fi
    grep -E "does not seem to be injectable|might be injectable|is vulnerable" "$log" | sed 's/^/   /' || true
    echo "   -> $verdict ($((SECONDS - started)) s)"
    results+=("$(printf '%-22s %-14s %s' "$name" "$verdict" "$url")")
}

# The base requests of signup, login and the password change must fail (a taken name,
# a wrong password): a success would renew the session and leave sqlmap without one.
scan signup           visitor "/signup" "username=alice&password=$password&password_confirm=$password" "username,password,password_confirm"
scan login            visitor "/login" "username=alice&password=not-the-password" "username,password"
scan session-cookie   alice   "/chats" "" "chaat_session"
scan search           alice   "/friends?q=bo" "" "q"
scan message-search   alice   "/search?q=hello&before=" "" "q,before"
scan profile-path     alice   "/users/bob*" "" ""
scan friend-request   alice   "/friend-requests" "to=dave&greeting=hi&return_to=/friends&q=" "to,greeting,return_to,q"
scan request-path     alice   "/friend-requests/$request*/reject" "return_to=/friends&q=" ""
scan message-text     alice   "/chats/$direct/messages" "text=hello" "text"
scan message-client   alice   "/chats/$direct/messages" "text=hello&client_id=$(cat /proc/sys/kernel/random/uuid)" "client_id"
scan history-before   alice   "/chats/$direct/messages?before=10" "" "before"
scan history-after    alice   "/chats/$direct/messages?after=0" "" "after"
scan read-marker      alice   "/chats/$direct/read" "seq=1" "seq"
scan chat-path        alice   "/chats/$direct*" "" ""
scan messages-path    alice   "/chats/$direct*/messages?after=0" "" ""
scan open-direct      alice   "/chats/direct" "username=bob" "username"
scan group-create     alice   "/chats/group" "name=scan+group&members=bob&members=carol" "name,members"
scan group-rename     alice   "/chats/$group/rename" "name=renamed" "name"
scan group-path       alice   "/chats/$group*/rename" "name=renamed+again" ""
scan member-add       alice   "/chats/$group/members" "username=carol" "username"
scan member-path      alice   "/chats/$group/members/carol*/remove" "return_to=" ""
scan picture-path     alice   "/display-pictures/$alice_id*" "" ""
scan unfriend-path    alice   "/friends/erin*/remove" "return_to=/friends&q=" ""
scan password-change  pat     "/settings/password" "current_password=not-the-password&new_password=$password-2&new_password_confirm=$password-2" "current_password,new_password,new_password_confirm"

echo; echo "== summary (sqlmap $("$venv/bin/sqlmap" --version), level $level, risk $risk)"
printf '%s\n' "${results[@]}"
curl -fs "$base/healthz" >/dev/null && echo "the app still answers /healthz" || { echo "the app stopped answering"; failed=1; }
if [ "$failed" = 0 ]; then
    echo "RESULT: nothing injectable (${#results[@]} targets)"
else
    echo "RESULT: FAILED (see above and $out)"
fi
exit "$failed"
