#!/bin/sh
# shellcheck disable=SC2015 # "A && B || fail" is meant: fail when either step fails
# install.sh: puts armor-hooks onto a node and registers the hook with every
# container runtime found there; --uninstall takes off exactly what it put on.
# Every file lands by write-then-rename, binaries before the config naming them,
# and any failure rolls the node back to how it was.
set -eu

usage() {
	cat <<'EOF'
usage: install.sh [--uninstall | --check [FILE...]] [options]

Installs armor-hook and armor-agent on this node (run as root) and registers the hook
with the container runtimes found here. Running it again is harmless.

  --prefix DIR          where the binaries go (default /usr/local/lib/armor-hooks)
  --hooks-dir DIR       hooks.d directory that CRI-O, podman and the containerd NRI
                        hook-injector read (default /usr/share/containers/oci/hooks.d;
                        /etc/containers/oci/hooks.d takes precedence where both are read)
  --socket PATH         agent socket (default /run/armor/armor.sock)
  --timeout-ms N        the hook's deadline for the agent, 1..60000 (default 2000)
  --runtimes LIST       comma-separated: crio,podman,containerd,runc (default: detect)
  --systemd | --no-systemd
                        install the agent as a systemd service (default: if systemd runs)
  --from DIR            directory holding armor-hook and armor-agent (default: dist/
                        beside this script, else this script's directory)
  --root DIR            install into DIR as if it were / (images, tests); paths written
                        into files stay as the node sees them, no service is started
  --dry-run             print every file it would write or remove and why; change nothing
  --uninstall           remove everything a previous install wrote, and nothing else
  --check [FILE...]     validate hooks.d files the way CRI-O and podman read them
                        (default: every *.json in --hooks-dir)
  --help

exit status: 0 done, 1 failed (the node is left as it was), 2 bad usage
EOF
}

die_usage() {
	echo "install.sh: $1 (see --help)" >&2
	exit 2
}

# ---- options -------------------------------------------------------------------------
PREFIX=/usr/local/lib/armor-hooks
HOOKS_DIR=/usr/share/containers/oci/hooks.d
SOCKET=/run/armor/armor.sock
TIMEOUT_MS=2000
RUNTIMES=detect
SYSTEMD=auto
FROM=
ROOT=
MODE=install
DRY_RUN=false
CHECK_FILES=

need_value() {
	[ $# -ge 2 ] && [ -n "$2" ] || die_usage "$1 needs a value"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--prefix) need_value "$@"; PREFIX=$2; shift ;;
	--hooks-dir) need_value "$@"; HOOKS_DIR=$2; shift ;;
	--socket) need_value "$@"; SOCKET=$2; shift ;;
	--timeout-ms) need_value "$@"; TIMEOUT_MS=$2; shift ;;
	--runtimes) need_value "$@"; RUNTIMES=$2; shift ;;
	--from) need_value "$@"; FROM=$2; shift ;;
	--root) need_value "$@"; ROOT=$2; shift ;;
	--systemd) SYSTEMD=yes ;;
	--no-systemd) SYSTEMD=no ;;
	--dry-run) DRY_RUN=true ;;
	--uninstall) MODE=uninstall ;;
	--check)
		MODE=check
		while [ $# -gt 1 ] && [ "${2#-}" = "$2" ]; do
			CHECK_FILES="$CHECK_FILES
$2"
			shift
		done
		;;
	--help | -h) usage; exit 0 ;;
	*) die_usage "unknown argument \"$1\"" ;;
	esac
	shift
done

# Values end up inside JSON strings and a systemd unit: keep them to plain path characters.
for pair in "--prefix=$PREFIX" "--hooks-dir=$HOOKS_DIR" "--socket=$SOCKET"; do
	value=${pair#*=}
	case "$value" in
	/*) ;;
	*) die_usage "${pair%%=*} must be an absolute path, got \"$value\"" ;;
	esac
	if printf '%s' "$value" | grep -q '[^A-Za-z0-9._/+-]'; then
		die_usage "${pair%%=*} may hold only letters, digits and . _ / + -, got \"$value\""
	fi
done
case "$TIMEOUT_MS" in
'' | *[!0-9]*) die_usage "--timeout-ms must be a whole number from 1 to 60000, got \"$TIMEOUT_MS\"" ;;
esac
[ "$TIMEOUT_MS" -ge 1 ] && [ "$TIMEOUT_MS" -le 60000 ] || die_usage "--timeout-ms must be a whole number from 1 to 60000, got \"$TIMEOUT_MS\""
if [ -n "$ROOT" ]; then
	case "$ROOT" in /*) ;; *) die_usage "--root must be an absolute path" ;; esac
	[ -d "$ROOT" ] || die_usage "--root $ROOT is not a directory"
	if printf '%s' "$ROOT" | grep -q '[^A-Za-z0-9._/+-]'; then die_usage "--root may hold only letters, digits and . _ / + -"; fi
	ROOT=${ROOT%/}
fi

SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
if [ -z "$FROM" ]; then
	if [ -x "$SCRIPT_DIR/dist/armor-hook" ]; then FROM=$SCRIPT_DIR/dist; else FROM=$SCRIPT_DIR; fi
fi

HOOK_BIN=$PREFIX/armor-hook
AGENT_BIN=$PREFIX/armor-agent
HOOKS_FILE=$HOOKS_DIR/10-armor-hooks.json
UNIT_FILE=/etc/systemd/system/armor-agent.service
MANIFEST=$PREFIX/install-manifest
HOOK_ENV=PATH=/usr/sbin:/usr/bin:/sbin:/bin
# The runtime's own limit on the hook: above the hook's deadline for the agent.
HOOK_TIMEOUT_S=$(((TIMEOUT_MS + 999) / 1000 + 3))

say() { printf '%s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }

# ---- hooks.d validation ----------------------------------------------------------------
# `armor-agent check-hooks` mirrors containers/common pkg/hooks (read.go, 1.0.0/hook.go) as
# CRI-O and podman load files: the node needs no jq/node/python, and a binary that cannot run
# on this node fails the check before anything lands. Clean environment, run from /.
check_hooks_files() {
	agent_exe=$1
	shift
	(cd / && env -i "$agent_exe" check-hooks --root "$ROOT" "$@")
}

# A Bun executable to run the check with: the one being installed, else the installed one.
checker() {
	for candidate in "$FROM/armor-agent" "$ROOT$AGENT_BIN"; do
		if [ -x "$candidate" ]; then
			printf '%s\n' "$candidate"
			return 0
		fi
	done
	echo "install.sh: no armor-agent binary to run the check with (looked in $FROM and $ROOT$PREFIX)" >&2
	return 1
}

if [ "$MODE" = check ]; then
	exe=$(checker) || exit 1
	if [ -z "$CHECK_FILES" ]; then
		CHECK_FILES=$(find "$ROOT$HOOKS_DIR" -maxdepth 1 -name '*.json' -type f 2>/dev/null | sort)
		[ -n "$CHECK_FILES" ] || { say "no *.json files in $ROOT$HOOKS_DIR"; exit 0; }
	fi
	set -f
	old_ifs=$IFS
	IFS='
'
	# shellcheck disable=SC2086 # one file a line
	set -- $CHECK_FILES
	IFS=$old_ifs
	set +f
	status=0
	for file in "$@"; do
		case "$file" in
		*.json) ;;
		*) say "$file: does not end in .json: CRI-O and podman ignore it"; status=1 ;;
		esac
	done
	check_hooks_files "$exe" "$@" || status=1
	exit "$status"
fi

# ---- what this node has ----------------------------------------------------------------
have_cmd() {
	for dir in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
		[ -x "$ROOT$dir/$1" ] && return 0
	done
	return 1
}

if [ "$RUNTIMES" = detect ]; then
	RUNTIMES=
	if have_cmd crio || [ -d "$ROOT/etc/crio" ]; then RUNTIMES="$RUNTIMES,crio"; fi
	if have_cmd podman; then RUNTIMES="$RUNTIMES,podman"; fi
	if have_cmd containerd || [ -d "$ROOT/etc/containerd" ]; then RUNTIMES="$RUNTIMES,containerd"; fi
	if have_cmd runc || have_cmd crun; then RUNTIMES="$RUNTIMES,runc"; fi
	RUNTIMES=${RUNTIMES#,}
	DETECTED=true
else
	DETECTED=false
	for runtime in $(printf '%s' "$RUNTIMES" | tr ',' ' '); do
		case "$runtime" in
		crio | podman | containerd | runc) ;;
		crun) RUNTIMES=$(printf '%s' "$RUNTIMES" | sed 's/crun/runc/') ;;
		*) die_usage "unknown runtime \"$runtime\" in --runtimes (crio, podman, containerd, runc)" ;;
		esac
	done
fi
uses() { case ",$RUNTIMES," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
USES_HOOKS_D=false
if uses crio || uses podman || uses containerd; then USES_HOOKS_D=true; fi

if [ "$SYSTEMD" = auto ]; then
	# sd_booted(3): systemd is PID 1 when this directory exists.
	if [ -d "$ROOT/run/systemd/system" ]; then SYSTEMD=yes; else SYSTEMD=no; fi
fi
MANAGE_SERVICE=false
if [ "$SYSTEMD" = yes ] && [ -z "$ROOT" ] && [ "$DRY_RUN" = false ] && command -v systemctl >/dev/null 2>&1; then
	MANAGE_SERVICE=true
fi

if [ "$DRY_RUN" = false ] && [ "$(id -u)" != 0 ]; then
	echo "install.sh: must run as root (files go into system directories owned by root); try --dry-run" >&2
	exit 1
fi

# ---- what this script writes -------------------------------------------------------------
hooks_json() {
	cat <<JSON
{
  "version": "1.0.0",
  "hook": {
    "path": "$HOOK_BIN",
    "args": ["armor-hook", "--socket", "$SOCKET", "--timeout-ms", "$TIMEOUT_MS"],
    "env": ["$HOOK_ENV"],
    "timeout": $HOOK_TIMEOUT_S
  },
  "when": { "always": true },
  "stages": ["createRuntime", "poststop"]
}
JSON
}

unit_text() {
	cat <<UNIT
# Written by armor-hooks install.sh; \`install.sh --uninstall\` removes it.
[Unit]
Description=armor-hooks node agent (registry of the containers armor-hook registers)
Before=crio.service containerd.service podman.service

[Service]
Type=simple
# A compiled Bun binary obeys these; never let a manager default reach the agent.
UnsetEnvironment=BUN_BE_BUN BUN_OPTIONS
# --reconcile: a restarted agent enumerates the running containers from the runtimes'
# state on disk, so its registry matches the node again.
ExecStart=$AGENT_BIN serve --socket $SOCKET --reconcile
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
UNIT
}

# One OCI hook entry, for config.json and containerd's base_runtime_spec.
hook_entry() {
	printf '{ "path": "%s", "args": ["armor-hook", "%s", "--socket", "%s", "--timeout-ms", "%s"], "env": ["%s"], "timeout": %s }' \
		"$HOOK_BIN" "$1" "$SOCKET" "$TIMEOUT_MS" "$HOOK_ENV" "$HOOK_TIMEOUT_S"
}

runc_snippet() {
	cat <<SNIPPET
  "hooks": {
    "createRuntime": [$(hook_entry createRuntime)],
    "poststop": [$(hook_entry poststop)]
  }
SNIPPET
}

# ---- transaction: journal, rollback ---------------------------------------------------------
WORK=
JOURNAL=
CREATED_DIRS=
TEMPS=
SERVICE_ENABLED=false
DONE=false

rollback() {
	if [ "$SERVICE_ENABLED" = true ]; then systemctl disable --now armor-agent.service >/dev/null 2>&1 || true; fi
	printf '%s\n' "$JOURNAL" | sed '/^$/d' | tac_lines | while read -r action path; do
		case "$action" in
		new) rm -f "$ROOT$path" ;;
		replaced) mv -f "$ROOT$path.armor-backup" "$ROOT$path" ;;
		removed) mv -f "$ROOT$path.armor-removed" "$ROOT$path" ;;
		esac
	done
	if [ "$SERVICE_ENABLED" = true ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
	for temp in $TEMPS; do rm -f "$temp"; done
	printf '%s\n' "$CREATED_DIRS" | sed '/^$/d' | tac_lines | while read -r dir; do rmdir "$ROOT$dir" 2>/dev/null || true; done
}

tac_lines() { sed -n '1!G;h;$p'; }

on_exit() {
	status=$?
	[ -z "$WORK" ] || rm -rf "$WORK"
	if [ "$DONE" = false ] && [ "$DRY_RUN" = false ]; then
		rollback
		[ "$status" -ne 0 ] || status=1
		echo "install.sh: nothing changed: every file was put back as it was" >&2
	fi
	exit "$status"
}
trap on_exit EXIT
trap 'exit 1' INT TERM HUP

WORK=$(mktemp -d "${TMPDIR:-/tmp}/armor-install.XXXXXX")
hooks_json >"$WORK/hooks.json"
unit_text >"$WORK/unit"

# The plan, in the order files land: binaries before anything naming them, the agent's unit
# before the hook config that makes runtimes call the hook. Fields: path mode source why.
PLAN="$HOOK_BIN 0755 $FROM/armor-hook the OCI hook runtimes execute at createRuntime and poststop
$AGENT_BIN 0755 $FROM/armor-agent the node agent the hook registers containers with"
if [ "$SYSTEMD" = yes ]; then
	PLAN="$PLAN
$UNIT_FILE 0644 $WORK/unit systemd unit running the agent on $SOCKET, restarted when it exits"
fi
if [ "$USES_HOOKS_D" = true ]; then
	PLAN="$PLAN
$HOOKS_FILE 0644 $WORK/hooks.json hooks.d entry (schema 1.0.0) that CRI-O, podman and the containerd NRI hook-injector inject at createRuntime and poststop"
fi

fail() {
	echo "install.sh: failed: $*" >&2
	exit 1
}

# Creates DIR and its missing parents (0755), remembering each one this run created.
ensure_dir() {
	missing=
	dir=$1
	while [ -n "$dir" ] && [ "$dir" != / ] && [ ! -d "$ROOT$dir" ]; do
		missing="$dir
$missing"
		dir=$(dirname "$dir")
	done
	for dir in $missing; do
		mkdir -m 0755 "$ROOT$dir" || fail "cannot create directory $ROOT$dir"
		CREATED_DIRS="$CREATED_DIRS
$dir"
	done
}

# True when DEST already holds SOURCE's bytes with MODE and root ownership.
unchanged() {
	[ -f "$ROOT$1" ] && cmp -s "$2" "$ROOT$1" &&
		[ "$(stat -c '%a %u %g' "$ROOT$1")" = "$(printf '%o' "0$3") 0 0" ]
}

# Copies SOURCE next to DEST under a name no runtime reads; sets mode and owner. Prints its path.
stage() {
	temp="$ROOT$(dirname "$1")/.$(basename "$1").armor-tmp"
	TEMPS="$TEMPS $temp"
	cp "$2" "$temp" && chmod "$3" "$temp" && chown 0:0 "$temp" || fail "cannot write $temp"
}

# Renames the staged file over DEST, keeping the old one (hard link) until the end.
commit() {
	temp="$ROOT$(dirname "$1")/.$(basename "$1").armor-tmp"
	if [ -e "$ROOT$1" ]; then
		ln -f "$ROOT$1" "$ROOT$1.armor-backup" || fail "cannot keep a backup of $ROOT$1"
		JOURNAL="$JOURNAL
replaced $1"
	else
		JOURNAL="$JOURNAL
new $1"
	fi
	mv -f "$temp" "$ROOT$1" || fail "cannot rename $temp to $ROOT$1"
}

# ---- what is left for the administrator ----------------------------------------------------
next_steps() {
	say ""
	say "Remaining steps (install.sh restarts no runtime by itself):"
	if [ -z "$RUNTIMES" ]; then
		say "- No container runtime found$( [ -n "$ROOT" ] && printf ' under %s' "$ROOT"). Name them with --runtimes crio,podman,containerd,runc."
	fi
	if uses crio; then
		say "- CRI-O: reads $HOOKS_DIR if it is in hooks_dir of /etc/crio/crio.conf (default [\"/usr/share/containers/oci/hooks.d\"])"
		say "  and watches it: no restart needed. Otherwise add it there and run: systemctl restart crio"
	fi
	if uses podman; then
		case "$HOOKS_DIR" in
		/usr/share/containers/oci/hooks.d | /etc/containers/oci/hooks.d)
			say "- podman: reads $HOOKS_DIR on every command: nothing to restart." ;;
		*) say "- podman: set hooks_dir in containers.conf, or pass --hooks-dir $HOOKS_DIR to podman." ;;
		esac
	fi
	if uses containerd; then
		cat <<STEPS
- containerd, path 1 (containerd 1.7 or newer): NRI + the containerd/nri hook-injector plugin,
  which injects what $HOOKS_DIR holds.
  containerd 1.7: enable NRI in /etc/containerd/config.toml, then: systemctl restart containerd
      [plugins."io.containerd.nri.v1.nri"]
        disable = false
  containerd 2.x: NRI is on by default (check that disable = false).
  Then run the hook-injector (on the node as hook-injector -idx 10, or its DaemonSet); it must
  see $HOOK_BIN at that same path (mount $PREFIX into its pod read-only).
- containerd, path 2 (containerd 1.5 or newer, without NRI): a base_runtime_spec carrying the hooks.
  ctr oci spec > /etc/containerd/armor-base-spec.json, add to that file
$(runc_snippet)
  and point the runtime at it in /etc/containerd/config.toml, then: systemctl restart containerd
      containerd 1.x:  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      containerd 2.x:  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
                         base_runtime_spec = "/etc/containerd/armor-base-spec.json"
STEPS
	fi
	if uses runc; then
		say "- runc/crun used directly: add to each bundle's config.json:"
		runc_snippet
	fi
	if [ "$SYSTEMD" = yes ]; then
		if [ "$MANAGE_SERVICE" = true ]; then
			say "- The agent runs as armor-agent.service (systemctl status armor-agent). After an upgrade: systemctl restart armor-agent"
		else
			say "- On the node: systemctl daemon-reload && systemctl enable --now armor-agent.service"
		fi
	else
		say "- No systemd here: keep the agent running under your supervisor, with a clean environment:"
		say "    env -u BUN_BE_BUN -u BUN_OPTIONS $AGENT_BIN serve --socket $SOCKET --reconcile"
	fi
	say "- Check: $AGENT_BIN list --socket $SOCKET   (a container started now appears there)"
}

# The manifest: what this and earlier installs wrote, in landing order, for --uninstall.
manifest_text() {
	if [ -f "$ROOT$MANIFEST" ]; then
		sed -n 's/^file //p' "$ROOT$MANIFEST" | while read -r path; do
			case "
$PLAN" in *"
$path "*) ;; *) say "file $path" ;; esac
		done
	fi
	printf '%s\n' "$PLAN" | while read -r path _; do say "file $path"; done
	[ ! -f "$ROOT$MANIFEST" ] || sed -n '/^dir /p' "$ROOT$MANIFEST"
	printf '%s\n' "$CREATED_DIRS" | sed '/^$/d; s/^/dir /'
}

# ---- uninstall ---------------------------------------------------------------------------------
if [ "$MODE" = uninstall ]; then
	if [ ! -f "$ROOT$MANIFEST" ]; then
		say "nothing to uninstall: no $ROOT$MANIFEST (installed with another --prefix?)"
		DONE=true
		exit 0
	fi
	files=$(sed -n 's/^file //p' "$ROOT$MANIFEST" | tac_lines)
	dirs=$(sed -n 's/^dir //p' "$ROOT$MANIFEST" | tac_lines)
	unit_listed=false
	if printf '%s\n' "$files" | grep -qxF "$UNIT_FILE"; then unit_listed=true; fi
	if [ "$DRY_RUN" = true ]; then
		for path in $files $MANIFEST; do [ ! -e "$ROOT$path" ] || say "would remove $ROOT$path"; done
		for dir in $dirs; do say "would remove directory $ROOT$dir (if empty)"; done
		[ "$unit_listed" = false ] || [ -n "$ROOT" ] || say "would run: systemctl disable --now armor-agent.service"
		DONE=true
		exit 0
	fi
	if [ "$unit_listed" = true ] && [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now armor-agent.service || fail "systemctl disable --now armor-agent.service"
	fi
	# Hook config first, binaries last: a runtime never sees an entry whose binary is gone.
	for path in $files $MANIFEST; do
		[ -e "$ROOT$path" ] || continue
		mv -f "$ROOT$path" "$ROOT$path.armor-removed" || fail "cannot remove $ROOT$path"
		JOURNAL="$JOURNAL
removed $path"
	done
	for path in $files $MANIFEST; do
		[ ! -e "$ROOT$path.armor-removed" ] || { rm -f "$ROOT$path.armor-removed"; say "removed $ROOT$path"; }
	done
	DONE=true
	for dir in $dirs; do
		if rmdir "$ROOT$dir" 2>/dev/null; then say "removed directory $ROOT$dir"; elif [ -d "$ROOT$dir" ]; then say "kept directory $ROOT$dir: not empty"; fi
	done
	if [ "$unit_listed" = true ] && [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
	say "armor-hooks uninstalled"
	exit 0
fi

# ---- install -------------------------------------------------------------------------------------
for source in "$FROM/armor-hook" "$FROM/armor-agent"; do
	[ -f "$source" ] || fail "$source is missing (build with: bun run build, or pass --from DIR)"
done
say "runtimes: ${RUNTIMES:-none}$( [ "$DETECTED" = true ] && printf ' (detected)'); systemd: $SYSTEMD"

if [ "$DRY_RUN" = true ]; then
	printf '%s\n' "$PLAN" | while read -r path mode source why; do
		if unchanged "$path" "$source" "$mode"; then
			say "unchanged $ROOT$path ($mode root:root): $why"
		else
			say "would write $ROOT$path ($mode root:root): $why"
			case "$source" in "$WORK"/*) sed 's/^/    /' "$source" ;; esac
		fi
	done
	[ -z "$ROOT" ] && [ "$SYSTEMD" = yes ] && say "would run: systemctl daemon-reload; systemctl enable --now armor-agent.service"
	manifest_text >"$WORK/manifest"
	unchanged "$MANIFEST" "$WORK/manifest" 0644 ||
		say "would write $ROOT$MANIFEST (0644 root:root): the list of what this install wrote, for --uninstall"
	next_steps
	DONE=true
	exit 0
fi

# Stage every file beside its destination, then prove the binaries run on this node.
CHANGED=
old_ifs=$IFS
IFS='
'
for line in $PLAN; do
	IFS=$old_ifs
	# shellcheck disable=SC2086 # split the plan line into its fields
	set -- $line
	ensure_dir "$(dirname "$1")"
	if unchanged "$1" "$3" "$2"; then
		say "unchanged $ROOT$1"
	else
		stage "$1" "$3" "$2"
		CHANGED="$CHANGED $1"
	fi
done
IFS=$old_ifs
for bin in "$HOOK_BIN" "$AGENT_BIN"; do
	runnable="$ROOT$bin"
	case " $CHANGED " in *" $bin "*) runnable="$ROOT$(dirname "$bin")/.$(basename "$bin").armor-tmp" ;; esac
	version=$(cd / && env -i "$runnable" --version 2>&1) || fail "$runnable does not run on this node: $version"
done

# Land them in plan order; the hooks.d file is checked once the binary it names is in place.
for path in $CHANGED; do
	if [ "$path" = "$HOOKS_FILE" ]; then
		report=$(check_hooks_files "$ROOT$AGENT_BIN" "$ROOT$(dirname "$path")/.$(basename "$path").armor-tmp" 2>&1) ||
			fail "the hooks.d entry would not load: $report"
	fi
	commit "$path"
	say "wrote $ROOT$path"
	if [ "$path" = "$UNIT_FILE" ] && [ "$MANAGE_SERVICE" = true ]; then
		systemctl daemon-reload || fail "systemctl daemon-reload"
		SERVICE_ENABLED=true
		systemctl enable --now armor-agent.service || fail "systemctl enable --now armor-agent.service"
	fi
done
if [ "$MANAGE_SERVICE" = true ] && [ "$SERVICE_ENABLED" = false ]; then
	systemctl is-active --quiet armor-agent.service || systemctl start armor-agent.service || fail "systemctl start armor-agent.service"
fi

manifest_text >"$WORK/manifest"
if ! unchanged "$MANIFEST" "$WORK/manifest" 0644; then
	stage "$MANIFEST" "$WORK/manifest" 0644
	commit "$MANIFEST"
fi

# Done: drop the backups of replaced files.
printf '%s\n' "$JOURNAL" | sed -n 's/^replaced //p' | while read -r path; do rm -f "$ROOT$path.armor-backup"; done
DONE=true

if [ "$USES_HOOKS_D" = true ]; then
	others=$(find "$ROOT$HOOKS_DIR" -maxdepth 1 -name '*.json' -type f ! -name "$(basename "$HOOKS_FILE")" 2>/dev/null | sort)
	if [ -n "$others" ]; then
		# shellcheck disable=SC2086 # one file a line, no spaces (checked paths)
		check_hooks_files "$ROOT$AGENT_BIN" $others >"$WORK/others" 2>&1 ||
			warn "other files in $HOOKS_DIR will not load as they are:
$(grep -v ': ok$' "$WORK/others")"
		rm -f "$WORK/others"
	fi
fi
say "armor-hooks installed in $ROOT$PREFIX"
next_steps
