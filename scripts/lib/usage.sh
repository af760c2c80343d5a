# usage.sh - the one --help preamble of every script: its usage is its header comment (sourced, not run).
# shellcheck shell=bash
#
# A script's header is its comment block from line 2 to the first line that is not a comment.
# usage prints it; usage_opts ARG answers -h or --help (the usage on stdout, exit 0) and refuses
# any other option (the usage on stderr, exit 2); an argument that is not an option passes.
# The script sources this file before it does anything else: $0 is the script.

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

usage_opts() {
	case ${1:-} in
	-h | --help) usage; exit 0 ;;
	-?*) usage >&2; exit 2 ;;
	esac
}
