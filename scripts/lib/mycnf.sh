# mycnf.sh - the one my.cnf writer: the [mariadbd] settings every shoplab MariaDB shares, for stack.sh and lab-ha.sh (sourced, not run).
# shellcheck shell=bash
#
# mycnf_server TITLE DIR PID_FILE PORT ADDRESS MAX_CONNECTIONS BUFFER_POOL LOG_FILE_SIZE prints
# the file: TITLE on its first line, the data in DIR/data, the socket DIR/mariadb.sock, the
# temporary files in DIR/tmp (the caller makes it, mode 0700, the server's user's: a tmpdir of
# its own, so two stacks on one host never share /tmp's #sql files). The caller appends what is its own (TLS, Galera) and writes it where its server's user reads it.
mycnf_server() {
	cat <<-CNF
	# my.cnf - $1
	[mariadbd]
	datadir=$2/data
	socket=$2/mariadb.sock
	tmpdir=$2/tmp
	pid-file=$3
	port=$4
	bind-address=$5
	skip-name-resolve
	max_connections=$6
	character-set-server=utf8mb4
	collation-server=utf8mb4_unicode_ci
	innodb_buffer_pool_size=$7
	innodb_log_file_size=$8
	# Durable across a mariadbd crash or kill -9 (not across a power loss): the lab's trade-off.
	innodb_flush_log_at_trx_commit=2
	innodb_lock_wait_timeout=5
	max_allowed_packet=16M
	default-time-zone='+00:00'
	CNF
}
