# Sourced by scripts/test and scripts/check-broker-kcat: builds and starts tools/dev-broker (a
# Kafka-protocol broker: librdkafka's mock cluster on 127.0.0.1, topics traffic(3), alerts(1))
# as a process of its own, and waits until it accepts connections.
#
#   start_dev_broker WORKDIR   builds it, starts it with --address-file WORKDIR/broker.addr
#                              (and $DEV_BROKER_ARGS, e.g. "--topic bench:64"),
#                              sets DEV_BROKER_PID and DEV_BROKER_ADDRESS; returns 1 (after
#                              printing its log) when it does not come up within
#                              DEV_BROKER_TIMEOUT seconds (default 60)
#   stop_dev_broker            kills it (safe to call twice, or when it never started)
#
# Needs the repository root as the current directory, cargo, and bash's /dev/tcp.

DEV_BROKER_PID=""
DEV_BROKER_ADDRESS=""

# True when a TCP connection to HOST:PORT succeeds within about a second.
dev_broker_tcp_ok() {
    local host=${1%:*} port=${1##*:}
    # shellcheck disable=SC2016 # $0 and $1 are the inner shell's arguments
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null
}

start_dev_broker() {
    local work=$1 limit=${DEV_BROKER_TIMEOUT:-60}
    local addr_file="$work/broker.addr" log="$work/broker.log" target bin
    cargo build -p dev-broker --locked || return 1
    target=$(cargo metadata --format-version 1 --no-deps --locked |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])') || return 1
    bin="$target/debug/dev-broker"
    rm -f "$addr_file"
    # stdin from /dev/null: dev-broker then serves until it is killed.
    # shellcheck disable=SC2086 # DEV_BROKER_ARGS is a list of words, e.g. "--topic bench:64"
    "$bin" --address-file "$addr_file" ${DEV_BROKER_ARGS:-} </dev/null >"$log" 2>&1 &
    DEV_BROKER_PID=$!
    local deadline=$((SECONDS + limit)) first
    while :; do
        if ! kill -0 "$DEV_BROKER_PID" 2>/dev/null; then
            echo "dev-broker exited before it was ready; its log:" >&2
            sed 's/^/    /' "$log" >&2
            DEV_BROKER_PID=""
            return 1
        fi
        if [ -s "$addr_file" ]; then
            DEV_BROKER_ADDRESS=$(head -n 1 "$addr_file")
            first=${DEV_BROKER_ADDRESS%%,*}
            if dev_broker_tcp_ok "$first"; then
                return 0
            fi
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "dev-broker not ready after ${limit} s (address file: ${DEV_BROKER_ADDRESS:-none yet}); its log:" >&2
            sed 's/^/    /' "$log" >&2
            stop_dev_broker
            return 1
        fi
        sleep 0.2
    done
}

stop_dev_broker() {
    if [ -n "$DEV_BROKER_PID" ]; then
        kill "$DEV_BROKER_PID" 2>/dev/null || true
        wait "$DEV_BROKER_PID" 2>/dev/null || true
        DEV_BROKER_PID=""
    fi
}
