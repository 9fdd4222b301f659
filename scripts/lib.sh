# Helpers shared by scripts/run.sh and scripts/test.sh. Sourced, not run.

# What the `opencv` crate needs to build (Debian's OpenCV 4.6 with FFmpeg, and libclang for
# its binding generator).
OPENCV_PACKAGES="libopencv-dev clang libclang-dev"

step() { printf '\n==> %s\n' "$*" >&2; }

require_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install the Rust toolchain (rustup, Rust ≥ 1.95) first" >&2
    exit 1
  fi
}

# Installs Debian packages that are missing (needs root or sudo).
ensure_apt_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  step "installing ${missing[*]}"
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Starts a throwaway PostgreSQL cluster on 127.0.0.1 and sets PG_URL; stops and deletes it
# when the calling script exits. PostgreSQL refuses to run as root, so as root the cluster
# belongs to the `postgres` user.
start_postgres() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -x "$bin/initdb" ]] || { echo "PostgreSQL server binaries not found under /usr/lib/postgresql" >&2; exit 1; }
  PG_DIR=$(mktemp -d /tmp/imind-pg.XXXXXX)
  local port=${IMIND_TEST_PG_PORT:-$(( 20000 + RANDOM % 20000 ))}
  local password
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  echo "$password" > "$PG_DIR/pwfile"
  mkdir -p "$PG_DIR/data" "$PG_DIR/socket"
  local as=()
  if [[ $(id -u) -eq 0 ]]; then
    chown -R postgres:postgres "$PG_DIR"
    as=(runuser -u postgres --)
  fi
  step "starting PostgreSQL on 127.0.0.1:$port"
  "${as[@]}" "$bin/initdb" -D "$PG_DIR/data" -U postgres -A scram-sha-256 --pwfile="$PG_DIR/pwfile" >/dev/null
  "${as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR/socket -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null
  PG_STOP=("${as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -m fast stop)
  trap 'stop_postgres' EXIT
  PG_URL="postgres://postgres:$password@127.0.0.1:$port/postgres"
  IMIND_TEST_POSTGRES_URL_REDACTED="postgres://postgres:***@127.0.0.1:$port/postgres"
  export PG_URL IMIND_TEST_POSTGRES_URL_REDACTED
}

stop_postgres() {
  [[ -n "${PG_DIR:-}" ]] || return 0
  "${PG_STOP[@]}" >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
