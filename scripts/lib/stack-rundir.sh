# stack-rundir.sh - the stack's user and STACK_DIR: what a root-started stack's processes reach and run (sourced by scripts/stack.sh, not run).
# shellcheck shell=bash

# ---------------------------------------------------------------- the stack's user
# The user the stack's processes run as: STACK_USER as root, this user otherwise.
stack_user() { if [ "$SR" = "$RUN" ]; then id -un; else echo "$STACK_USER"; fi; }
# stack_write FILE: stdin into FILE, written as the stack user (root never writes through
# what that user controls), mode 0600.
stack_write() { "${AS_STACK[@]}" sh -c 'umask 077 && cat > "$1"' sh "$1"; }
stack_user_ensure() {
	[ "$SR" != "$RUN" ] || return 0
	system_user_ensure "$STACK_USER" STACK_USER "the stack's processes" "shoplab stack (services, MariaDB, RabbitMQ)"
}

# stack_dir_prepare: as root, STACK_DIR and what the stack user owns in it (see STACK_USER).
# Made by root only: a STACK_DIR that is a symlink or someone else's is refused. A run dir of
# an older root stack (its data under the run dir) moves its data there once.
stack_dir_prepare() {
	local d u
	[ "$SR" != "$RUN" ] || return 0
	stack_user_ensure
	u=$STACK_USER
	if [ -L "$SR" ] || { [ -e "$SR" ] && [ "$(stat -c %u "$SR")" != 0 ]; }; then
		die "STACK_DIR $SR exists and is not root's own directory: remove it"
	fi
	mkdir -p "$SR" "$RUN" && chmod 0711 "$SR" || die "cannot make STACK_DIR $SR"
	realpath -m "$RUN" > "$SR/run-dir"
	for d in pid mariadb rabbitmq proxy; do
		if [ -d "$RUN/$d" ] && [ ! -L "$RUN/$d" ] && [ ! -e "$SR/$d" ]; then
			log "moving $RUN/$d to $SR/$d (the stack user cannot reach the run dir)"
			mv "$RUN/$d" "$SR/$d" || die "cannot move $RUN/$d to $SR/$d"
		fi
		mkdir -p "$SR/$d"
		# Owned by the stack user throughout (chown -R does not follow symlinks).
		if [ -n "$(find "$SR/$d" ! -user "$u" -print -quit)" ]; then chown -R "$u:$u" "$SR/$d"; fi
		chmod 0700 "$SR/$d"
	done
	# Where the older layout had them, for tools that look there: the run dir links in.
	for d in mariadb rabbitmq; do
		[ -e "$RUN/$d" ] || ln -sfn "$SR/$d" "$RUN/$d"
	done
	# The binaries the stack user runs: copies (a rename, so a running one keeps its file).
	mkdir -p "$SR/bin" && chmod 0755 "$SR/bin"
	bins_sync
}

# bins_sync: $BUILD/bin's services (and sim) copied into STACK_DIR/bin where they differ.
bins_sync() {
	local s
	[ "$SR" != "$RUN" ] || return 0
	for s in $(services) sim; do
		[ -x "$BUILD/bin/$s" ] || continue
		cmp -s "$BUILD/bin/$s" "$SR/bin/$s" && continue
		install -m 0755 "$BUILD/bin/$s" "$SR/bin/.$s.new" && mv -f "$SR/bin/.$s.new" "$SR/bin/$s" ||
			die "cannot copy $BUILD/bin/$s to $SR/bin"
	done
}

# stack_dir_gc: STACK_DIRs whose run dir is gone and whose processes are all stopped (a
# test's `rm -rf` of its run dir) are removed.
stack_dir_gc() {
	local d r f live
	[ "$SR" != "$RUN" ] || return 0
	for d in /var/tmp/shoplab-stack.*; do
		[ -d "$d" ] && [ ! -L "$d" ] && [ "$d" != "$SR" ] && [ "$(stat -c %u "$d")" = 0 ] || continue
		r=$(cat "$d/run-dir" 2>/dev/null) || continue
		[ -n "$r" ] && [ ! -e "$r" ] || continue
		live=0
		for f in "$d"/pid/*.pid "$d"/mariadb/mariadbd.pid "$d"/rabbitmq/rabbitmq.pid; do
			[ -f "$f" ] && pid_alive "$(cat "$f" 2>/dev/null)" && live=1
		done
		[ "$live" = 1 ] || rm -rf "$d"
	done
	return 0
}
