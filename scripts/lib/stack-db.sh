# stack-db.sh - the stack's MariaDB: start it, provision the service databases and users, apply the migrations (sourced by scripts/stack.sh, not run).
# shellcheck shell=bash

# ---------------------------------------------------------------- MariaDB
# DB_SOCKET points the provisioning at another server (a system MariaDB, for hosting).
db_client() { mariadb --no-defaults --socket="${DB_SOCKET:-$SR/mariadb/mariadb.sock}" -u "$(id -un)" "$@"; }

db_up() {
	local d=$SR/mariadb i tls=$TLS_DIR
	mkdir -p "$d" "$RUN/logs"
	if alive "$RUN/mariadb.pid"; then return 0; fi
	# Errors go to stderr, that is $RUN/logs/mariadb.log (opened here: the stack user may not
	# reach the run dir). mariadbd writes its pid file and removes it when it stops; as root
	# the run dir's mariadb.pid is a link to it.
	local pidf=$RUN/mariadb.pid
	if [ "$SR" != "$RUN" ]; then pidf=$d/mariadbd.pid; ln -sfn "$pidf" "$RUN/mariadb.pid"; fi
	if [ "$DB_TLS" = 1 ]; then
		db_tls_certs
		# As root: copies the stack user can read (the key: that user only).
		if [ "$SR" != "$RUN" ]; then
			tls=$d/tls
			"${AS_STACK[@]}" mkdir -p "$tls"
			stack_write "$tls/db-server.key" < "$TLS_DIR/db-server.key"
			stack_write "$tls/db-server.crt" < "$TLS_DIR/db-server.crt"
			stack_write "$tls/ca.crt" < "$TLS_DIR/ca.crt"
			install -m 0644 "$TLS_DIR/ca.crt" "$SR/ca.crt"
		fi
	fi
	{
		mycnf_server "the stack's private MariaDB server, written by scripts/stack.sh" \
			"$d" "$pidf" "$DB_PORT" "$DB_ADDR" 600 128M 64M
		if [ "$DB_TLS" = 1 ]; then
			printf 'ssl_cert=%s\nssl_key=%s\nssl_ca=%s\ntls_version=TLSv1.2,TLSv1.3\n' \
				"$tls/db-server.crt" "$tls/db-server.key" "$tls/ca.crt"
		fi
	} | stack_write "$d/my.cnf"
	if [ ! -d "$d/data/mysql" ]; then
		log "initialising MariaDB in $d/data"
		# As root, root@localhost (socket auth: the OS user root) administers it; the stack
		# user's own account exists too (--user). --force: skip the install script's host name
		# check (resolveip of `uname -n`, then of localhost), which fails in a minimal root or
		# container without /etc/hosts; the grant tables are the same, and every client here
		# connects by socket or 127.0.0.1.
		"${AS_STACK[@]}" mariadb-install-db --no-defaults --datadir="$d/data" --user="$(stack_user)" --force \
			--skip-test-db --auth-root-authentication-method=socket \
			> "$RUN/logs/mariadb-install.log" 2>&1 || { cat "$RUN/logs/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
	fi
	"${AS_STACK[@]}" mkdir -p -m 0700 "$d/tmp"
	( drop_secrets; exec setsid "${db_ns[@]}" "${AS_STACK[@]}" mariadbd --defaults-file="$d/my.cnf" >> "$RUN/logs/mariadb.log" 2>&1 < /dev/null ) &
	UP_STARTED+=(mariadb)
	for i in $(seq 1 300); do
		if db_client -e 'SELECT 1' >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	tail -20 "$RUN/logs/mariadb.log" >&2
	die "MariaDB did not start (see $RUN/logs/mariadb.log)"
}

# One schema and one least-privilege user per service; schema and seed applied each time.
db_provision() {
	local s up pw sql="" host
	for s in $SERVICES_ALL; do
		up=$(echo "$s" | tr a-z A-Z)
		pw_var="SHOPLAB_DB_${up}_PASSWORD"
		pw=${!pw_var}
		sql+="CREATE DATABASE IF NOT EXISTS \`$s\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
		for host in 127.0.0.1 localhost ${DB_CLIENT_HOSTS:-}; do
			sql+="CREATE USER IF NOT EXISTS '$s'@'$host' IDENTIFIED BY '$pw';"
			# DB_TLS=1: the service users may connect over TLS only.
			sql+="ALTER USER '$s'@'$host' IDENTIFIED BY '$pw' REQUIRE $([ "$DB_TLS" = 1 ] && echo SSL || echo NONE);"
			sql+="GRANT SELECT, INSERT, UPDATE, DELETE ON \`$s\`.* TO '$s'@'$host';"
		done
	done
	db_client -e "$sql" || die "provisioning databases failed"
	for s in $SERVICES_ALL; do
		db_migrate "$s" || die "schema of $s: not brought up to date (above)"
		if [ -f "$SQL_DIR/seed-$s.sql" ] && [ -z "${SHOPLAB_NO_SEED:-}" ]; then
			db_client "$s" < "$SQL_DIR/seed-$s.sql" || die "seed sql/seed-$s.sql failed"
		fi
	done
}

# ---------------------------------------------------------------- migrations
# sql/<svc>/NNN_description.sql, applied in order, each once, recorded in the service's
# schema_version table (docs/deploy.md). MariaDB commits DDL implicitly, so a migration is
# not one transaction: each must be safe to run again (IF [NOT] EXISTS), and the row in
# schema_version is written only after the whole file succeeded. The older form, one
# sql/<svc>.sql, is still applied whole on every run (a service not yet moved).
# The events library's tables come from sql/events/NNN_*.sql, applied first to a service whose
# service.conf has the file's "-- for: publishes|consumes" line, recorded in its own
# schema_version_events (docs/events.md). A file rewritten when its part moved there names the
# checksum it had in a "-- replaces checksum SUM" line: a database that applied it then is not
# warned about.
SQL_DIR=${SHOPLAB_SQL:-$TOP/sql}

# migrations DIR: "version path" lines of DIR's NNN_*.sql, in order; fails on a bad or repeated number.
migrations() {
	local d=$1 f b v seen=" "
	for f in "$d"/*.sql; do
		[ -f "$f" ] || continue
		b=$(basename "$f")
		case $b in [0-9][0-9][0-9]_*.sql) ;; *) log "sql/${d##*/}/$b: a migration is named NNN_description.sql"; return 1 ;; esac
		v=$((10#${b%%_*}))
		[ "$v" -ge 1 ] || { log "sql/${d##*/}/$b: migrations are numbered from 001"; return 1; }
		case $seen in *" $v "*) log "sql/${d##*/}: two migrations numbered $v"; return 1 ;; esac
		seen="$seen$v "
		echo "$v $f"
	done
}

# db_migrate SVC: applies SVC's pending migrations (the events library's first); 0 when its
# schema is up to date. Two migrators at once (two `up`s, a deploy) take turns on a named lock.
db_migrate() {
	local s=$1
	if [ ! -d "$SQL_DIR/$s" ]; then
		if [ -f "$SQL_DIR/$s.sql" ]; then
			db_client "$s" < "$SQL_DIR/$s.sql" || { log "schema sql/$s.sql failed"; return 1; }
		fi
		return 0
	fi
	if [ -d "$SQL_DIR/events" ] && svc_uses_broker "$s"; then
		db_migrate_dir "$s" "$SQL_DIR/events" schema_version_events || return 1
	fi
	db_migrate_dir "$s" "$SQL_DIR/$s" schema_version
}

# db_migrate_dir SVC DIR TABLE: DIR's pending migrations on SVC's database, recorded in TABLE.
# A file with a "-- for: KEY" line applies only when SVC's service.conf has KEY= set.
db_migrate_dir() {
	local s=$1 d=$2 t=$3 list v f applied sum old n=0 out key what=schema
	[ "$t" = schema_version ] || what="events schema"
	list=$(migrations "$d") || return 1
	db_client "$s" -e "CREATE TABLE IF NOT EXISTS $t (
		version INT NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL,
		checksum CHAR(64) NOT NULL,
		applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci" ||
		{ log "$s: cannot create the $t table"; return 1; }
	while read -r v f; do
		[ -n "$v" ] || continue
		key=$(sed -n 's/^-- for: \([a-z]*\)$/\1/p' "$f" | head -n 1)
		if [ -n "$key" ] && ! grep -Eq "^$key=." "$TOP/fcgi-services/$s/service.conf" 2>/dev/null; then
			continue
		fi
		sum=$(sha256sum "$f" | cut -c1-64)
		old=$(db_client -N -B "$s" -e "SELECT checksum FROM $t WHERE version = $v") ||
			{ log "$s: cannot read $t"; return 1; }
		if [ -n "$old" ]; then
			[ "$old" = "$sum" ] || grep -qx -- "-- replaces checksum $old" "$f" ||
				log "warning: sql/${d##*/}/$(basename "$f") changed after it was applied (checksum differs); it is not applied again: migrations are append-only, put the change in a new file"
			continue
		fi
		# One session: the lock, then the file and its row in one transaction (a file of data
		# changes is applied with its row or not at all; DDL commits on its own, hence the
		# idempotence rule); --batch stops at the first error, which rolls back what is open.
		# (The first two statements share the file's first line: MariaDB's "at line N" is the file's.)
		if ! out=$( { printf "SELECT GET_LOCK('shoplab_migrate_%s', 60) INTO @got; START TRANSACTION; " "$s"
			cat "$f"
			echo
			echo "INSERT IGNORE INTO $t (version, name, checksum) VALUES ($v, '$(basename "$f")', '$sum');"
			echo "COMMIT;"
			echo "DO RELEASE_LOCK('shoplab_migrate_$s');"
		} | db_client --batch "$s" 2>&1); then
			log "migration sql/${d##*/}/$(basename "$f") FAILED: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
			log "$s stays at $what version $(db_client -N -B "$s" -e "SELECT COALESCE(MAX(version), 0) FROM $t" 2>/dev/null || echo '?'); fix the file (or add a new one) and run it again"
			return 1
		fi
		n=$((n + 1))
		log "$s: applied migration $( [ "$t" = schema_version ] || echo "${d##*/}/")$(basename "$f")"
	done <<< "$list"
	applied=$(db_client -N -B "$s" -e "SELECT COALESCE(MAX(version), 0) FROM $t") || return 1
	[ "$n" -eq 0 ] || log "$s: $what version $applied"
	return 0
}
