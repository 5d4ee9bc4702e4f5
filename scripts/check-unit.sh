#!/bin/sh
# Rates the systemd unit install.sh writes with `systemd-analyze security --offline` and fails
# above an exposure of 3.0 (--threshold is exposure x 10), with and without --metrics; and checks
# it with `systemd-analyze verify`. Needs no build: the binaries are stand-ins.
set -eu
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/from"
for bin in armor-hook armor-agent; do
	printf '#!/bin/sh\nexit 0\n' >"$work/from/$bin"
	chmod 0755 "$work/from/$bin"
done
status=0
for variant in plain metrics; do
	root=$work/$variant
	mkdir -p "$root/run/systemd/system"
	extra=
	[ "$variant" = plain ] || extra="--metrics 127.0.0.1:9469"
	# shellcheck disable=SC2086 # $extra is two words or none
	sh install.sh --root "$root" --from "$work/from" --runtimes runc $extra >/dev/null
	unit=$root/etc/systemd/system/armor-agent.service
	rating=$(systemd-analyze security --offline=true --root="$root" --threshold=30 armor-agent.service 2>&1) || status=1
	printf 'armor-agent.service (%s): %s\n' "$variant" "$(printf '%s\n' "$rating" | grep 'Overall exposure')"
	# verify resolves ExecStart= on the host: point it at the stand-in.
	sed "s#=[^ ]*/armor-agent #=$work/from/armor-agent #" "$unit" >"$work/armor-agent.service"
	if ! systemd-analyze verify "$work/armor-agent.service"; then
		echo "armor-agent.service ($variant): systemd-analyze verify failed" >&2
		status=1
	fi
done
[ "$status" -eq 0 ] || echo "check-unit: the agent's unit is rated above 3.0 or does not verify" >&2
exit "$status"
