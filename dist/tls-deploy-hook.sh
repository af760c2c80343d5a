#!/bin/sh
# tls-deploy-hook.sh - puts a certificate from an ACME client where the shoplab gateway reads
# it (/etc/shoplab/tls/fullchain.pem, privkey.pem, chain.pem), then checks and reloads nginx.
#
#   certbot certonly --webroot -w /var/lib/shoplab/acme -d NAME --deploy-hook PATH/tls-deploy-hook.sh
#       (certbot sets RENEWED_LINEAGE=/etc/letsencrypt/live/NAME)
#   dehydrated: HOOK=PATH/tls-deploy-hook.sh, WELLKNOWN=/var/lib/shoplab/acme/.well-known/acme-challenge
#       (called as: deploy_cert DOMAIN KEYFILE CERTFILE FULLCHAINFILE CHAINFILE TIMESTAMP;
#        every other hook call is answered with nothing)
#
# SHOPLAB_TLS_DIR (/etc/shoplab/tls) and SHOPLAB_RELOAD ("nginx -t -q && systemctl reload nginx")
# change where and how. A certificate put here replaces the generated local one for good.
set -eu
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
# (Written out, not sourced from scripts/lib/usage.sh: an ACME client may run a copy of this hook alone.)
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
case ${1:-} in
-h | --help) usage; exit 0 ;;
-?*) usage >&2; exit 2 ;;
esac

dir=${SHOPLAB_TLS_DIR:-/etc/shoplab/tls}
reload=${SHOPLAB_RELOAD:-nginx -t -q && systemctl reload nginx}
die() { printf 'tls-deploy-hook: %s\n' "$*" >&2; exit 1; }

if [ "${1:-}" = deploy_cert ]; then
	[ $# -ge 6 ] || die "deploy_cert wants DOMAIN KEYFILE CERTFILE FULLCHAINFILE CHAINFILE"
	key=$3 full=$5 chain=$6
elif [ $# -gt 0 ]; then
	exit 0	# another dehydrated hook (deploy_challenge, clean_challenge, ...): nothing to do
elif [ -n "${RENEWED_LINEAGE:-}" ]; then
	key=$RENEWED_LINEAGE/privkey.pem full=$RENEWED_LINEAGE/fullchain.pem chain=$RENEWED_LINEAGE/chain.pem
else
	usage >&2
	exit 2
fi
for f in "$key" "$full"; do [ -r "$f" ] || die "cannot read $f"; done
# The key must be the certificate's: compare their public keys before anything is replaced.
[ "$(openssl pkey -in "$key" -pubout 2>/dev/null)" = "$(openssl x509 -in "$full" -noout -pubkey 2>/dev/null)" ] ||
	die "$key is not the key of $full; nothing was changed"

umask 077
mkdir -p "$dir"
install -m 0600 "$key" "$dir/.privkey.pem.new"
install -m 0644 "$full" "$dir/.fullchain.pem.new"
if [ -r "$chain" ]; then install -m 0644 "$chain" "$dir/chain.pem"; fi
mv -f "$dir/.privkey.pem.new" "$dir/privkey.pem"
mv -f "$dir/.fullchain.pem.new" "$dir/fullchain.pem"
rm -f "$dir/.generated"	# never regenerated over a real certificate
sh -c "$reload" || die "nginx did not take the new certificate (the files are in $dir)"
echo "tls-deploy-hook: $full deployed to $dir"
