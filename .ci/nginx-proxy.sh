#!/usr/bin/env bash
# nginx as a WebSocket reverse proxy in front of `wsock serve`, as
# docs/deploy.md describes: Debian's nginx forwards the upgrade to the
# echo server, and `wsock connect` runs an echo through it.
#
# Usage: bash .ci/nginx-proxy.sh   (after a release build of wsock-cli)
# Installs nginx with apt-get when it is missing (as root, or with sudo).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail() { printf '!!! nginx proxy test: %s\n' "$*" >&2; exit 1; }

WSOCK=${CARGO_TARGET_DIR:-target}/release/wsock
[[ -x $WSOCK ]] || fail "$WSOCK not found: run cargo build --release -p wsock-cli first"

NGINX=$(command -v nginx || true)
[[ -n $NGINX ]] || NGINX=$(PATH=$PATH:/usr/sbin:/sbin command -v nginx || true)
if [[ -z $NGINX ]]; then
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y nginx ||
    { $SUDO apt-get update && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y nginx; }
  NGINX=$(PATH=$PATH:/usr/sbin:/sbin command -v nginx) || fail "nginx did not install"
fi
"$NGINX" -v

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The echo server, on a free port; it prints its address on stderr.
"$WSOCK" serve --listen 127.0.0.1:0 2>"$work/serve.log" &
pids+=($!)
for _ in $(seq 100); do
  grep -q 'listening on' "$work/serve.log" && break
  sleep 0.1
done
upstream=$(grep -o 'ws://127\.0\.0\.1:[0-9]*' "$work/serve.log" | head -1 | sed 's|ws://||')
[[ -n $upstream ]] || { cat "$work/serve.log"; fail "wsock serve did not start"; }

# A free loopback port for nginx.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The configuration of docs/deploy.md, with every path in the temp dir so
# nothing of the system's nginx is touched.
mkdir -p "$work/tmp"
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
    access_log $work/access.log;
    client_body_temp_path $work/tmp/body;
    proxy_temp_path $work/tmp/proxy;
    fastcgi_temp_path $work/tmp/fastcgi;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;

    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      close;
    }
    upstream wsock {
        server $upstream;
    }
    server {
        listen 127.0.0.1:$port;
        location /ws/ {
            proxy_pass http://wsock/;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_read_timeout 75s;
            proxy_send_timeout 75s;
        }
    }
}
CONF
"$NGINX" -t -p "$work" -c "$work/nginx.conf" 2>&1 || fail "nginx rejects the configuration"
"$NGINX" -p "$work" -c "$work/nginx.conf" -g 'daemon off;' 2>"$work/nginx.log" &
pids+=($!)
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

# Two lines through the proxy; the echo must come back in order, and the
# closing handshake must finish (exit status 0).
out=$(printf 'hello through nginx\nsecond line\n' |
  timeout 30 "$WSOCK" connect --connect-timeout 10 "ws://127.0.0.1:$port/ws/echo" 2>"$work/client.log") || {
  cat "$work/client.log" "$work/nginx.log" "$work/serve.log" >&2
  fail "wsock connect through nginx failed"
}
cat "$work/client.log"
expected=$'hello through nginx\nsecond line'
[[ $out == "$expected" ]] || {
  printf 'expected:\n%s\ngot:\n%s\n' "$expected" "$out" >&2
  fail "the echo through nginx differs"
}
grep -q 'closed' "$work/client.log" || fail "no closing handshake through nginx"
grep -q '"GET /ws/echo HTTP/1.1" 101' "$work/access.log" ||
  { cat "$work/access.log" >&2; fail "nginx did not log the upgrade (101)"; }
echo "echo through nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'): ok"
