# Sourced by the user scripts: `SOFER="$(build_sofer)"` builds the release binary and
# prints its path as cargo reports it, so CARGO_TARGET_DIR and build caches are honoured.
build_sofer() {
    cargo build --release --bin sofer --message-format=json-render-diagnostics |
        python3 -c '
import json, sys
exes = [m["executable"] for m in map(json.loads, sys.stdin)
        if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "sofer"]
if not exes:
    sys.exit("cargo build reported no sofer binary")
print(exes[-1])'
}

# `wait_for_listen PID ADDR_FILE LOG`: waits until the server started as PID writes its
# {"listening": ...} line to ADDR_FILE and prints the address; if the server exits or
# stays silent for 120 s, prints its log to stderr and fails.
wait_for_listen() {
    local pid="$1" addr_file="$2" log="$3"
    for _ in $(seq 1200); do
        if [ -s "$addr_file" ]; then
            python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listening"])' "$addr_file"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "error: sofer serve exited before listening; its log:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "error: sofer serve did not start listening within 120 s; its log:" >&2
    cat "$log" >&2
    return 1
}
