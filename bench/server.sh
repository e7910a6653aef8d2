#!/bin/sh
# Starts or stops the bench server: nginx with its Lua module, in its own
# prefix (a temp dir), on 127.0.0.1.
#   bench/server.sh start DIR PORT [TLS_PORT]
#                       (prints nothing; DIR/error.log on failure)
#   bench/server.sh stop DIR
# With TLS_PORT it also serves the same handler over TLS + HTTP/2 there,
# with a self-signed certificate for 127.0.0.1 made now by `openssl` into
# DIR/cert.pem (the file clients trust: ca_file=, NODE_EXTRA_CA_CERTS).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cmd=$1 dir=$2
NGINX=${NGINX:-/usr/sbin/nginx}
MODS=${NGINX_MODULES:-/usr/lib/nginx/modules}

case $cmd in
start)
  port=$3 tls_port=${4:-}
  mkdir -p "$dir/tmp"
  handler='location / { content_by_lua_block { require("server").handle() } }'
  tls_server=
  if [ -n "$tls_port" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
      -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>"$dir/openssl.log" \
      || { cat "$dir/openssl.log" >&2; exit 1; }
    tls_server="server {
    listen 127.0.0.1:$tls_port ssl http2 backlog=1024;
    ssl_certificate $dir/cert.pem;
    ssl_certificate_key $dir/key.pem;
    $handler
  }"
  fi
  cat > "$dir/nginx.conf" <<CONF
load_module $MODS/ndk_http_module.so;
load_module $MODS/ngx_http_lua_module.so;
worker_processes 2;
env BENCH_EVENTS;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/tmp;
  client_body_buffer_size 1m;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  lua_package_path "$here/?.lua;;";
  lua_shared_dict bench 4m;
  init_by_lua_block { require("server").init() }
  server {
    listen 127.0.0.1:$port backlog=1024;
    $handler
  }
  $tls_server
}
CONF
  "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
  # Ready when it answers.
  i=0
  ready() {
    curl -s -o /dev/null "http://127.0.0.1:$port/v1beta/models/x:generateContent" -H 'x-goog-api-key: k' -d '{}' &&
      { [ -z "$tls_port" ] || curl -s -o /dev/null --cacert "$dir/cert.pem" \
          "https://127.0.0.1:$tls_port/v1beta/models/x:generateContent" -H 'x-goog-api-key: k' -d '{}'; }
  }
  until ready; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "bench server did not start (see $dir/error.log)" >&2; exit 1; }
    sleep 0.1
  done ;;
stop)
  [ -f "$dir/nginx.pid" ] && "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -s stop 2>/dev/null || true ;;
esac
