#!/bin/sh
# A private MySQL server on a Debian machine without Docker, to test the MySQL (ngram
# full-text) path: Debian bookworm ships only MariaDB, Debian sid ships MySQL 9.7. The sid
# packages are downloaded and unpacked (dpkg -x) into a prefix of their own, never installed,
# and mysqld runs through sid's own dynamic loader and libraries, so nothing of the system
# changes. docs/testing.md ("MySQL without Docker") says how to point the tests at it.
#
#   scripts/mysql_sid.sh install   # download + unpack into $PREFIX (once, ~60 MB of .debs)
#   scripts/mysql_sid.sh start     # initialise $DATADIR if empty, start on $PORT, user kefu/kefu
#   scripts/mysql_sid.sh sql 'CREATE DATABASE x'   # a statement as root (through the socket)
#   scripts/mysql_sid.sh stop
#
# Then: DATABASE_URL=mysql://kefu:kefu@127.0.0.1:$PORT/kefu_my8 .venv/bin/python -m pytest ...
set -eu

PREFIX=${PREFIX:-/opt/mysql-sid}
DATADIR=${DATADIR:-$PREFIX/data}
PORT=${PORT:-3307}
RUN=${RUN:-$PREFIX/run}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOTS="mysql-server-core mysql-client-core"

LIBS="$PREFIX/lib/x86_64-linux-gnu:$PREFIX/usr/lib/x86_64-linux-gnu"
LOADER="$PREFIX/lib64/ld-linux-x86-64.so.2"
[ -e "$LOADER" ] || LOADER="$PREFIX/usr/lib64/ld-linux-x86-64.so.2"

# Run one of the prefix's programs with the prefix's loader and libraries only.
sid() {
    prog=$1
    shift
    "$LOADER" --library-path "$LIBS" "$PREFIX$prog" "$@"
}

install() {
    mkdir -p "$PREFIX/debs"
    cd "$PREFIX"
    curl -sSf -o Packages.xz "$MIRROR/dists/sid/main/binary-amd64/Packages.xz"
    xz -dc Packages.xz >Packages
    # Resolve the dependency closure of $ROOTS (first choice of every "a | b"; perl, debconf
    # and other scripts' needs are left out: only the binaries run).
    python3 - "$ROOTS" >debs.txt <<'PY'
import re, sys
pkgs, provides = {}, {}
for stanza in open("Packages", encoding="utf-8").read().split("\n\n"):
    fields = dict(re.findall(r"^([\w-]+): (.*)$", stanza, re.M))
    if "Package" not in fields:
        continue
    pkgs[fields["Package"]] = fields
    for p in fields.get("Provides", "").split(","):
        if p.strip():
            provides.setdefault(p.split()[0].strip(), fields["Package"])
SKIP = re.compile(r"^(perl|perl-base|perl-modules.*|debconf|debconf-2.0|mysql-common|adduser|"
                  r"init-system-helpers|dpkg|lsb-base|passwd|libc-bin|tzdata|mariadb-common)$")
todo, seen = sys.argv[1].split(), set()
while todo:
    name = todo.pop()
    name = name if name in pkgs else provides.get(name, name)
    if name in seen or SKIP.match(name):
        continue
    if name not in pkgs:
        sys.exit(f"not in sid: {name}")
    seen.add(name)
    for field in ("Depends", "Pre-Depends"):
        for dep in filter(None, (d.strip() for d in pkgs[name].get(field, "").split(","))):
            first = dep.split("|")[0].strip().split()[0].split(":")[0]
            todo.append(first)
for name in sorted(seen):
    print(pkgs[name]["Filename"])
PY
    while read -r file; do
        deb="debs/$(basename "$file")"
        [ -s "$deb" ] || curl -sSf -o "$deb" "$MIRROR/$file"
        dpkg -x "$deb" "$PREFIX"
    done <debs.txt
    echo "unpacked $(wc -l <debs.txt) packages into $PREFIX"
}

start() {
    mkdir -p "$RUN"
    if [ -S "$RUN/mysqld.sock" ] && sql "SELECT 1" >/dev/null 2>&1; then
        echo "already running on 127.0.0.1:$PORT"
        return
    fi
    if [ ! -d "$DATADIR/mysql" ]; then
        mkdir -p "$DATADIR"
        sid /usr/sbin/mysqld --no-defaults --initialize-insecure --user="$(id -un)" \
            --basedir="$PREFIX/usr" --datadir="$DATADIR" --lc-messages-dir="$PREFIX/usr/share/mysql"
        fresh=1
    fi
    # utf8mb4 throughout; ngram_token_size 2 is the default (bigrams), stopwords off for the
    # ngram parser (see docs/search.md); a 512 MB buffer pool: a test server on a shared box.
    # Detached, in its own session, with every inherited descriptor closed (python's
    # close_fds): a caller that reads our output to its end is not held open by the server.
    python3 -c 'import subprocess, sys; subprocess.Popen(sys.argv[1:], start_new_session=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)' \
        "$LOADER" --library-path "$LIBS" "$PREFIX/usr/sbin/mysqld" --no-defaults --user="$(id -un)" --basedir="$PREFIX/usr" \
        --datadir="$DATADIR" --lc-messages-dir="$PREFIX/usr/share/mysql" \
        --port="$PORT" --bind-address=127.0.0.1 --socket="$RUN/mysqld.sock" \
        --mysqlx=OFF --pid-file="$RUN/mysqld.pid" --log-error="$RUN/error.log" \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_0900_ai_ci \
        --innodb-ft-enable-stopword=OFF --innodb-buffer-pool-size=512M \
        --skip-log-bin --performance-schema=OFF --secure-file-priv=""
    for _ in $(seq 60); do
        [ -S "$RUN/mysqld.sock" ] && break
        sleep 1
    done
    [ -S "$RUN/mysqld.sock" ] || { tail -20 "$RUN/error.log"; exit 1; }
    if [ "${fresh:-}" ]; then
        sql "CREATE USER 'kefu'@'%' IDENTIFIED BY 'kefu'; GRANT ALL ON *.* TO 'kefu'@'%' WITH GRANT OPTION;"
    fi
    echo "mysqld $(sid /usr/sbin/mysqld --version | awk '{print $3}') on 127.0.0.1:$PORT"
}

sql() {
    sid /usr/bin/mysql --no-defaults -uroot --socket="$RUN/mysqld.sock" -e "$1"
}

stop() {
    [ -f "$RUN/mysqld.pid" ] && kill "$(cat "$RUN/mysqld.pid")" && echo stopped
}

"$@"
