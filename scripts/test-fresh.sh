#!/usr/bin/env bash
# test-fresh.sh - the README's two commands, as root, in a fresh minimal Debian 12 root (make test-fresh).
#
#   scripts/test-fresh.sh [--keep]      as root; --keep leaves the root in /var/tmp for a look
#
# A `debootstrap --variant=minbase bookworm` root (cached: scripts/lib/rootfs.sh), a clone of
# this checkout's HEAD in FRESH_DIR (/root/shoplab), then, in a container with loopback only,
# the commands of the README's "Two commands on a fresh Debian 12 machine", read from README.md:
# its `apt-get install -y git make`, then each `make …` line of its block, in order. Any command
# that fails fails the test; so does a demo without a report. The packages are downloaded into
# the root beforehand, so the container needs no network (the README's commands still run
# their own `apt-get update` and `apt-get install`). Progress lines carry the time since the
# step began; the end prints each phase's duration. make test's npm packages (scripts/deps.sh
# web) are fetched the same way, into the root's npm cache. Settings: FRESH_DIR, ROOTFS_CACHE,
# ROOTFS_MAX_AGE_DAYS (7), ROOTFS_MIRROR, FRESH_WORK (/var/tmp).
set -euo pipefail
. "$(dirname "$0")/lib/usage.sh"
keep=0
case ${1:-} in
-h | --help) usage; exit 0 ;;
--keep) keep=1 ;;
"") ;;
*) usage >&2; exit 2 ;;
esac

TOP=$(cd "$(dirname "$0")/.." && pwd)
FRESH_DIR=${FRESH_DIR:-/root/shoplab}
log() { printf '%s test-fresh: %s\n' "$(date -u +%T)" "$*"; }
die() { log "FAIL: $*" >&2; exit 1; }
# shellcheck source=scripts/lib/rootfs.sh
. "$TOP/scripts/lib/rootfs.sh"

# --- the README's commands (so that this test cannot drift from what a new user reads)
section=$(awk '/^## Two commands on a fresh Debian 12 machine/ { f = 1; next } f && /^## / { exit } f' "$TOP/README.md")
# shellcheck disable=SC2016
prereq=$(grep -o '`apt-get install[^`]*`' <<< "$section" | tr -d '`' | head -n 1)
mapfile -t cmds < <(awk '/^```sh/ { f = 1; next } /^```/ { f = 0 } f && /^make / { sub(/[ \t]*#.*/, ""); print }' <<< "$section")
[ -n "$prereq" ] || die "README.md: no \`apt-get install …\` in its \"Two commands\" section"
[ "${#cmds[@]}" -ge 2 ] || die "README.md: fewer than two make commands in its \"Two commands\" section"
read -r -a prereq_pkgs <<< "${prereq#apt-get install -y }"
log "the README's commands: $prereq; ${cmds[*]/%/;}"

rootfs_tools

t=$SECONDS
rootfs_cache
phase "root (debootstrap or cache)" $((SECONDS - t))

work=$(mktemp -d "$FRESH_WORK/shoplab-fresh.XXXXXX") || die "mktemp failed"
cleanup() {
	local rc=$?
	if [ "$keep" = 1 ]; then log "kept $work/root"; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
root=$work/root

t=$SECONDS
rootfs_extract "$root"
[ -z "$(git -C "$TOP" status --porcelain --untracked-files=no)" ] ||
	log "note: uncommitted changes are not part of the test (it clones HEAD)"
mkdir -p "$root$(dirname "$FRESH_DIR")"
git clone -q --no-hardlinks "$TOP" "$root$FRESH_DIR" || die "git clone into $root$FRESH_DIR failed"
log "HEAD $(git -C "$root$FRESH_DIR" log -1 --format='%h %s' | cut -c1-80) in $FRESH_DIR"
phase "extract, clone" $((SECONDS - t))

t=$SECONDS
mapfile -t deps < <(SHOPLAB_DEPS_LIST=1 "$TOP/scripts/deps.sh" | tr ' ' '\n')
# make test's `scripts/deps.sh web` set, as the root will ask for it (listed in the root: this
# machine may have node and npm, the fresh root has neither).
mapfile -t web < <(rootfs_nspawn "$root" -- env SHOPLAB_DEPS_LIST=1 sh "$FRESH_DIR/scripts/deps.sh" web | tr ' ' '\n' | grep .)
[ "${#web[@]}" -ge 1 ] || die "scripts/deps.sh web listed no package in the root"
log "download: ${prereq_pkgs[*]}, ${#deps[@]} packages of scripts/deps.sh and ${web[*]} (deps.sh web) into the root"
rootfs_prefetch "$root" "${prereq_pkgs[@]}" "${deps[@]}" "${web[@]}" || die "apt-get --download-only in the root failed"
# deps.sh web then npm-installs puppeteer-core and axe-core (pinned in deps.sh). The same
# install, by the npm the root will have (Debian's: another npm's cache entries do not match its
# requests), fills the root's npm cache (root's ~/.npm): in a scratch copy of the root with this
# machine's network, the cache bound in; the container's npm then takes them from it
# (npm_config_prefer_offline below; deps.sh is unchanged).
npm_pkgs=()
for v in PUPPETEER_CORE_VERSION:puppeteer-core AXE_CORE_VERSION:axe-core; do
	ver=$(sed -n "s/^${v%%:*}=//p" "$TOP/scripts/deps.sh")
	[ -n "$ver" ] || die "scripts/deps.sh: no ${v%%:*}"
	npm_pkgs+=("${v#*:}@$ver")
done
log "download: ${npm_pkgs[*]} into the root's npm cache (Debian's npm, in a scratch copy of the root)"
rootfs_extract "$work/npmroot"
mkdir -p "$root/root/.npm"
# The scratch root's node trusts what this machine trusts (its CA bundle, read-only: a network
# that inspects TLS has its own CA there; elsewhere it is the public CAs the root has anyway).
ca=()
[ ! -s /etc/ssl/certs/ca-certificates.crt ] ||
	ca=(--bind-ro=/etc/ssl/certs/ca-certificates.crt:/run/host-ca-certificates.crt)
"${ROOTFS_NSPAWN[@]}" -D "$work/npmroot" --bind="$root/root/.npm:/root/.npm" "${ca[@]}" env -i \
	PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DEBIAN_FRONTEND=noninteractive PUPPETEER_SKIP_DOWNLOAD=1 \
	${ca[0]:+NODE_EXTRA_CA_CERTS=/run/host-ca-certificates.crt} sh -c 'apt-get update -q &&
		apt-get install -y -q --no-install-recommends nodejs npm &&
		npm install --prefix /tmp/npm --no-audit --no-fund --no-progress --loglevel=error "$@"' npm "${npm_pkgs[@]}" \
	> "$work/npm.log" 2>&1 || { tail -20 "$work/npm.log" >&2; die "npm install of ${npm_pkgs[*]} in the scratch root failed"; }
rm -rf "$work/npmroot"
phase "download the packages (host network)" $((SECONDS - t))

# The steps run in one container, one after another, as a user would type them: the demo's
# stack is still up while make test runs its own throwaway one beside it.
steps=("$prereq" "${cmds[@]}")
{
	echo 'set -u'
	# npm: from the cache filled above, without asking the registry the container cannot reach.
	echo 'export npm_config_prefer_offline=true'
	echo "cd '$FRESH_DIR' || exit 1"
	for s in "${steps[@]}"; do
		# shellcheck disable=SC2016
		printf 'echo "@@ start %s"; s=$(date +%%s); %s 2>&1; rc=$?; echo "@@ end %s rc=$rc $(( $(date +%%s) - s )) s"; [ $rc -eq 0 ] || exit $rc\n' \
			"$s" "$s" "$s"
	done
	# make demo's report, where the README says it is.
	echo 'ls run/reports/*/report.html > /dev/null 2>&1 || { echo "@@ no run/reports/*/report.html after make demo"; exit 1; }'
} > "$root/root/test-fresh-steps.sh"

log "container: ${steps[*]/%/;} (log: $work/steps.log)"
t=$SECONDS
rc=0
rootfs_nspawn "$root" -- bash /root/test-fresh-steps.sh < /dev/null 2>&1 | tee "$work/steps.log" | rootfs_stamp || rc=$?
phase "the commands, in all" $((SECONDS - t))
re='^@@ end (.*) rc=([0-9]+) ([0-9]+) s$'
while IFS= read -r line; do
	line=${line%$'\r'}
	if [[ $line =~ $re ]]; then phase "  ${BASH_REMATCH[1]} (rc ${BASH_REMATCH[2]})" "${BASH_REMATCH[3]}"; fi
done < "$work/steps.log"

phases_show
if [ "$rc" -ne 0 ] || grep -q '^@@ no ' "$work/steps.log" || grep -q '^@@ end .* rc=[1-9]' "$work/steps.log"; then
	grep '^@@ ' "$work/steps.log" | sed 's/^/  /'
	if [ "$keep" != 1 ]; then cp "$work/steps.log" "$FRESH_WORK/shoplab-fresh-last.log" && log "log kept: $FRESH_WORK/shoplab-fresh-last.log"; fi
	die "a README command failed in the fresh root (rc $rc)"
fi
log "ok: ${steps[*]/%/;} all passed in a fresh Debian 12 minbase root"
