#!/bin/sh
# shellcheck disable=SC2015 # "A && B || fail" is meant: fail when either step fails
# install.sh: puts armor-hooks onto a node and registers the hook with every
# container runtime found there; --uninstall takes off exactly what it put on.
# Every file is staged in a directory this run creates, then renamed into place, binaries
# before the config naming them; a journal written before each change lets a failure, or the
# next run after a kill, roll the node back to how it was. Paths resolve inside --root.
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
  --state-root FORMAT:PATH[,...]
                        runtime state roots the hook's bootstrap and the agent's --reconcile
                        read (default: the built-in runc:/run/runc,runc:/run/containerd/runc,
                        crun:/run/crun), e.g. for a runc Root set in containerd's config
  --fail-policy open|closed
                        what the hook does when the agent cannot confirm a container:
                        start it anyway (open, default) or refuse it (closed)
  --containerd-base-spec PATH
                        containerd's base runtime spec with the hooks, written from the node's
                        default (ctr oci spec) when containerd is used (default
                        /etc/armor-hooks/containerd-base-spec.json)
  --containerd-default-spec FILE
                        the default spec to start from instead of running ctr oci spec
  --containerd-config FILE
                        containerd's config (default /etc/containerd/config.toml): never edited
                        without --apply-containerd-config; read so --uninstall keeps a base
                        spec it still names
  --apply-containerd-config
                        point the runc runtime's base_runtime_spec in --containerd-config at
                        the base spec (--uninstall: take that line out again); containerd
                        reads it when restarted, which install.sh never does
  --metrics HOST:PORT   the agent serves /metrics, /healthz and /readyz there (e.g.
                        127.0.0.1:9469; default off)
  --systemd | --no-systemd
                        install the agent as a systemd service (default: if systemd runs)
  --from DIR            directory holding armor-hook and armor-agent (default: dist/
                        beside this script, else this script's directory)
  --root DIR            install into DIR as if it were / (images, tests); paths written
                        into files stay as the node sees them, no service is started
  --dry-run             print every file it would write or remove and why; change nothing
  --force               replace (or, with --uninstall, remove) a file changed since install.sh
                        wrote it, or one it did not write; without it such a file is kept, with
                        a warning
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
FAIL_POLICY=open
STATE_ROOTS=
BASE_SPEC=/etc/armor-hooks/containerd-base-spec.json
DEFAULT_SPEC=
CONTAINERD_CONFIG=/etc/containerd/config.toml
APPLY_CONTAINERD_CONFIG=false
RUNTIMES=detect
SYSTEMD=auto
FROM=
ROOT=
MODE=install
DRY_RUN=false
FORCE=false
CHECK_FILES=
METRICS=

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
	--fail-policy) need_value "$@"; FAIL_POLICY=$2; shift ;;
	--state-root) need_value "$@"; STATE_ROOTS=$2; shift ;;
	--containerd-base-spec) need_value "$@"; BASE_SPEC=$2; shift ;;
	--containerd-default-spec) need_value "$@"; DEFAULT_SPEC=$2; shift ;;
	--containerd-config) need_value "$@"; CONTAINERD_CONFIG=$2; shift ;;
	--apply-containerd-config) APPLY_CONTAINERD_CONFIG=true ;;
	--metrics) need_value "$@"; METRICS=$2; shift ;;
	--from) need_value "$@"; FROM=$2; shift ;;
	--root) need_value "$@"; ROOT=$2; shift ;;
	--systemd) SYSTEMD=yes ;;
	--no-systemd) SYSTEMD=no ;;
	--dry-run) DRY_RUN=true ;;
	--force) FORCE=true ;;
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
for pair in "--prefix=$PREFIX" "--hooks-dir=$HOOKS_DIR" "--socket=$SOCKET" "--containerd-base-spec=$BASE_SPEC" "--containerd-config=$CONTAINERD_CONFIG"; do
	value=${pair#*=}
	case "$value" in
	/*) ;;
	*) die_usage "${pair%%=*} must be an absolute path, got \"$value\"" ;;
	esac
	if printf '%s' "$value" | grep -q '[^A-Za-z0-9._/+-]'; then
		die_usage "${pair%%=*} may hold only letters, digits and . _ / + -, got \"$value\""
	fi
done
if printf '%s' "$STATE_ROOTS" | grep -q '[^A-Za-z0-9._/+:,-]'; then
	die_usage "--state-root may hold only FORMAT:PATH[,FORMAT:PATH...] of letters, digits and . _ / + -, got \"$STATE_ROOTS\""
fi
case "$FAIL_POLICY" in
open | closed) ;;
*) die_usage "--fail-policy must be open or closed, got \"$FAIL_POLICY\"" ;;
esac
if [ -n "$METRICS" ] && ! printf '%s' "$METRICS" | grep -Eq '^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):[0-9]{1,5}$'; then
	die_usage "--metrics must be HOST:PORT (e.g. 127.0.0.1:9469), got \"$METRICS\""
fi
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
# One hooks.d file per stage, each naming its stage in the hook's argv: the hook knows its stage
# before it reads stdin, so a poststop whose stdin never closes is never refused (fail-closed).
HOOKS_FILE_CREATE=$HOOKS_DIR/10-armor-hooks-createRuntime.json
HOOKS_FILE_POSTSTOP=$HOOKS_DIR/10-armor-hooks-poststop.json
# What earlier versions wrote instead: removed by an install (as --uninstall would), never left
# beside the files above, which would run the hook twice at each stage.
RETIRED_FILES=$HOOKS_DIR/10-armor-hooks.json
UNIT_FILE=/etc/systemd/system/armor-agent.service
NRI_UNIT_FILE=/etc/systemd/system/armor-nri.service
MANIFEST=$PREFIX/install-manifest
HOOK_ENV=PATH=/usr/sbin:/usr/bin:/sbin:/bin
# The hook's arguments after its stage, as JSON list items, in every file naming the hook.
HOOK_ARGS_JSON="\"--socket\", \"$SOCKET\", \"--timeout-ms\", \"$TIMEOUT_MS\""
[ "$FAIL_POLICY" = open ] || HOOK_ARGS_JSON="$HOOK_ARGS_JSON, \"--fail-policy\", \"$FAIL_POLICY\""
[ -z "$STATE_ROOTS" ] || HOOK_ARGS_JSON="$HOOK_ARGS_JSON, \"--state-root\", \"$STATE_ROOTS\""
AGENT_STATE_ARGS=
[ -z "$STATE_ROOTS" ] || AGENT_STATE_ARGS=" --state-root $STATE_ROOTS"
# The install guide goes beside the binaries, for the unit's Documentation= (when this checkout or --from has it).
DOC_SRC=
for candidate in "$FROM/INSTALL.md" "$SCRIPT_DIR/docs/INSTALL.md"; do
	if [ -z "$DOC_SRC" ] && [ -f "$candidate" ]; then DOC_SRC=$candidate; fi
done
DOC_FILE=
[ -z "$DOC_SRC" ] || DOC_FILE=$PREFIX/INSTALL.md
# The runtime's own limit on the hook: above the hook's deadline for the agent.
HOOK_TIMEOUT_S=$(((TIMEOUT_MS + 999) / 1000 + 3))

say() { printf '%s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
exists() { [ -e "$1" ] || [ -L "$1" ]; }

# ---- paths inside --root -----------------------------------------------------------------
# resolve_in_root PATH prints PATH as a process chrooted into --root sees it: every symbolic
# link followed, an absolute target read from --root (never from the real /), ".." never
# above --root. Without --root it is PATH itself and the kernel resolves it as usual.
resolve_in_root() {
	if [ -z "$ROOT" ]; then
		printf '%s\n' "$1"
		return 0
	fi
	cur=
	rest=$1
	hops=0
	while [ -n "$rest" ]; do
		comp=${rest%%/*}
		case "$rest" in */*) rest=${rest#*/} ;; *) rest= ;; esac
		case "$comp" in
		'' | .) continue ;;
		..) cur=${cur%/*}; continue ;;
		esac
		if [ -L "$ROOT$cur/$comp" ]; then
			hops=$((hops + 1))
			if [ "$hops" -gt 40 ]; then
				echo "install.sh: failed: too many symbolic links in $1 under $ROOT" >&2
				return 1
			fi
			target=$(readlink "$ROOT$cur/$comp")
			case "$target" in /*) cur= ;; esac
			rest=$target/$rest
		else
			cur=$cur/$comp
		fi
	done
	case "$cur" in *[!A-Za-z0-9._/+-]*)
		echo "install.sh: failed: $1 under $ROOT resolves to \"$cur\": only letters, digits and . _ / + - are allowed" >&2
		return 1
		;;
	esac
	printf '%s\n' "${cur:-/}"
}

# in_root PATH: PATH's directory resolved inside --root, its last component as it is (a link
# there is replaced by rename, never written through).
in_root() {
	parent=$(resolve_in_root "$(dirname "$1")") || return 1
	printf '%s/%s\n' "${parent%/}" "$(basename "$1")"
}

# ---- hooks.d validation ----------------------------------------------------------------
# `armor-agent check-hooks` mirrors containers/common pkg/hooks (read.go, 1.0.0/hook.go) as
# CRI-O and podman load files: the node needs no jq/node/python, and a binary that cannot run
# on this node fails the check before anything lands. Clean environment, run from /.
check_hooks_files() {
	agent_exe=$1
	shift
	(cd / && env -i "$agent_exe" check-hooks --root "$ROOT" "$@")
}

# `armor-agent containerd-spec ACTION ...`: builds and checks containerd's base spec and edits
# the one config line naming it, in the same clean environment.
spec_tool() {
	agent_exe=$1
	shift
	(cd / && env -i "$agent_exe" containerd-spec "$@")
}

# True when containerd config FILE has a base_runtime_spec line naming PATH. A config it cannot
# read is a failure, never "not named": the answer decides whether a file may be removed.
config_names() {
	[ -f "$1" ] || return 1
	names_exe=$(checker) || fail "no armor-agent to read $1 with"
	names_status=0
	spec_tool "$names_exe" names "$1" --spec "$2" || names_status=$?
	case "$names_status" in
	0) return 0 ;;
	1) return 1 ;;
	*) fail "cannot tell whether $1 names $2 as base_runtime_spec" ;;
	esac
}

# The node's ctr (inside --root first), else the one on PATH.
node_ctr() {
	for dir in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
		found=$(resolve_in_root "$dir/ctr") || return 1
		if [ -x "$ROOT$found" ]; then
			printf '%s\n' "$ROOT$found"
			return 0
		fi
	done
	command -v ctr
}

# A Bun executable to run the check with: the one being installed, else the installed one.
checker() {
	for candidate in "$FROM/armor-agent" "$ROOT$(resolve_in_root "$AGENT_BIN")"; do
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
		hooks_dir=$(resolve_in_root "$HOOKS_DIR") || exit 1
		CHECK_FILES=$(find "$ROOT$hooks_dir" -maxdepth 1 -name '*.json' -type f 2>/dev/null | sort)
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
		found=$(resolve_in_root "$dir/$1") || return 1
		[ -x "$ROOT$found" ] && return 0
	done
	return 1
}

if [ "$RUNTIMES" = detect ]; then
	RUNTIMES=
	if have_cmd crio || [ -d "$ROOT$(resolve_in_root /etc/crio)" ]; then RUNTIMES="$RUNTIMES,crio"; fi
	if have_cmd podman; then RUNTIMES="$RUNTIMES,podman"; fi
	if have_cmd containerd || [ -d "$ROOT$(resolve_in_root /etc/containerd)" ]; then RUNTIMES="$RUNTIMES,containerd"; fi
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
	if [ -d "$ROOT$(resolve_in_root /run/systemd/system)" ]; then SYSTEMD=yes; else SYSTEMD=no; fi
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
# hooks_json STAGE: the hooks.d file (schema 1.0.0) for one stage, the same entry as hook_entry's.
hooks_json() {
	cat <<JSON
{
  "version": "1.0.0",
  "hook": $(hook_entry "$1"),
  "when": { "always": true },
  "stages": ["$1"]
}
JSON
}

# The agent's unit, hardened (systemd-analyze security --offline rates it; .ci/run checks <= 3.0).
# The agent reads /proc/<pid>/ns of every container (CAP_SYS_PTRACE: their processes hold
# capabilities it lacks) and their bundles' config.json (CAP_DAC_READ_SEARCH), and writes only
# beside its socket. Without those two it says so (log, armor_bootstrap_incomplete, status).
unit_text() {
	socket_dir=$(dirname "$SOCKET")
	cat <<UNIT
# Written by armor-hooks install.sh; \`install.sh --uninstall\` removes it.
[Unit]
Description=armor-hooks node agent (registry of the containers armor-hook registers)
$( [ -z "$DOC_FILE" ] || printf 'Documentation=file:%s\n' "$DOC_FILE")
Before=crio.service containerd.service podman.service

[Service]
Type=simple
# A compiled Bun binary obeys these; never let a manager default reach the agent.
UnsetEnvironment=BUN_BE_BUN BUN_OPTIONS
# --reconcile: a restarted agent enumerates the running containers from the runtimes'
# state on disk, so its registry matches the node again.
# --hook-binary: the agent keeps the pages of the hook this install wrote resident (a cold page cache).
ExecStart=$AGENT_BIN serve --socket $SOCKET --reconcile --hook-binary $HOOK_BIN$AGENT_STATE_ARGS$( [ -z "$METRICS" ] || printf ' --metrics %s' "$METRICS")
Restart=always
RestartSec=1
# Exit 2 is bad usage (a flag this binary does not know): restarting cannot mend it.
RestartPreventExitStatus=2
$(case "$socket_dir" in
	/run/?*) printf 'RuntimeDirectory=%s\nRuntimeDirectoryMode=0700\n' "${socket_dir#/run/}" ;;
	*) printf 'ExecStartPre=+/bin/mkdir -p -m 0700 %s\n' "$socket_dir" ;;
esac)
# Never removed on stop: its spool/ tells fail-closed hooks the agent has started on this node.
RuntimeDirectoryPreserve=yes
ReadWritePaths=$socket_dir
CapabilityBoundingSet=CAP_SYS_PTRACE CAP_DAC_READ_SEARCH
NoNewPrivileges=yes
UMask=0077
# The hook binary's pages are kept resident (mlock) without CAP_IPC_LOCK.
LimitMEMLOCK=256M
LimitNOFILE=65536
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
$( [ -n "$METRICS" ] && printf 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n' || printf 'RestrictAddressFamilies=AF_UNIX\nPrivateNetwork=yes\n')
SystemCallArchitectures=native
# What the agent calls (strace of serve, reconcile, clients, metrics) is within @system-service,
# plus mincore for the hook's resident pages. JavaScriptCore's JIT needs writable executable
# memory: no MemoryDenyWriteExecute.
SystemCallFilter=@system-service mincore
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
UNIT
}

# armor-agent nri: containerd's NRI plugin, a process of its own (the NRI socket controls every
# container, so the agent serving consumers never holds it). Not enabled by install.sh: NRI must be
# on in containerd first (next steps). It injects the same entry as hook_entry below.
nri_unit_text() {
	cat <<UNIT
# Written by armor-hooks install.sh; \`install.sh --uninstall\` removes it.
[Unit]
Description=armor-hooks NRI plugin (injects armor-hook into every containerd container)
After=containerd.service armor-agent.service
Wants=armor-agent.service

[Service]
Type=simple
UnsetEnvironment=BUN_BE_BUN BUN_OPTIONS
# It reconnects by itself when containerd restarts; this covers its own exits.
ExecStart=$AGENT_BIN nri --hook-path $HOOK_BIN --socket $SOCKET --timeout-ms $TIMEOUT_MS
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
UNIT
}

# One OCI hook entry, for config.json and containerd's base_runtime_spec.
hook_entry() {
	printf '{ "path": "%s", "args": ["armor-hook", "%s", %s], "env": ["%s"], "timeout": %s }' \
		"$HOOK_BIN" "$1" "$HOOK_ARGS_JSON" "$HOOK_ENV" "$HOOK_TIMEOUT_S"
}

runc_snippet() {
	cat <<SNIPPET
  "hooks": {
    "createRuntime": [$(hook_entry createRuntime)],
    "poststop": [$(hook_entry poststop)]
  }
SNIPPET
}


# ---- the transaction: staging, journal, rollback -------------------------------------------
# Every directory a file lands in gets a staging directory, DIR/.armor-install, made by mkdir
# (which never follows a link) with mode 0700: temp files are created inside it only, so none is
# ever opened through something that was already there. The journal, PREFIX/.armor-install/journal,
# records each step before it is taken (paths resolved inside --root):
#   begin MODE | dir D (made D) | stage D (made D/.armor-install) | new P | replaced P (the old P
#   kept as a hard link in the staging directory) | removed P (moved there) | enabled | done
# A journal without "done" is undone last step first; one with "done" only has staging
# directories left to remove. A failure undoes it before exiting; after a kill the next run
# (install or --uninstall) finishes it first.
STAGE=.armor-install
WORK=
TXN=
TXN_OPEN=false
STAGED=" "
CREATED_DIRS=
DONE=false

fail() {
	echo "install.sh: failed: $*" >&2
	exit 1
}

tac_lines() { sed -n '1!G;h;$p'; }

journal() {
	printf '%s\n' "$*" >>"$ROOT$TXN/journal" || fail "cannot write the journal $ROOT$TXN/journal"
	sync "$ROOT$TXN/journal" 2>/dev/null || true
}

# Takes back every step the journal records, last first (or, once "done", removes the staging).
undo_journal() {
	committed=false
	! grep -qx done "$ROOT$TXN/journal" || committed=true
	tac_lines <"$ROOT$TXN/journal" | while read -r action path; do
		held=$ROOT$(dirname "${path:-/}")/$STAGE/$(basename "${path:-/}")
		case "$committed $action" in
		"false new") if [ -f "$ROOT$path" ] || [ -L "$ROOT$path" ]; then rm -f "$ROOT$path"; fi ;;
		"false replaced") ! exists "$held.backup" || mv -f "$held.backup" "$ROOT$path" ;;
		"false removed") ! exists "$held.removed" || mv -f "$held.removed" "$ROOT$path" ;;
		"false enabled") [ -n "$ROOT" ] || systemctl disable --now armor-agent.service >/dev/null 2>&1 || true ;;
		"false dir") rmdir "$ROOT$path" 2>/dev/null || true ;;
		*" stage") rm -rf "$ROOT${path%/}/$STAGE" ;;
		esac
	done
	rm -rf "$ROOT$TXN"
	TXN_OPEN=false
}

# A run killed before it finished left its journal: finish or undo it before anything else.
recover() {
	exists "$ROOT$TXN" || return 0
	if [ -L "$ROOT$TXN" ] || [ ! -d "$ROOT$TXN" ]; then
		warn "removing $ROOT$TXN: not a directory install.sh made"
		rm -f "$ROOT$TXN"
		return 0
	fi
	what=$(sed -n '1s/^begin //p' "$ROOT$TXN/journal" 2>/dev/null)
	if [ ! -f "$ROOT$TXN/journal" ] || [ -z "$what" ]; then
		rm -rf "$ROOT$TXN" # killed before its first step
	elif grep -qx done "$ROOT$TXN/journal"; then
		say "finishing an interrupted $what (its journal says it was complete)"
		undo_journal
	else
		warn "rolling back an interrupted $what (journal $ROOT$TXN/journal): every file it changed is put back"
		undo_journal
	fi
}

# Creates DIR (resolved) and its missing parents, 0755, journaling each before making it.
ensure_dir() {
	missing=
	dir=$1
	while [ "$dir" != / ] && [ ! -d "$ROOT$dir" ]; do
		missing="$dir
$missing"
		dir=$(dirname "$dir")
	done
	for dir in $missing; do
		[ "$TXN_OPEN" = false ] || journal "dir $dir"
		mkdir -m 0755 "$ROOT$dir" || fail "cannot create directory $ROOT$dir"
		CREATED_DIRS="$CREATED_DIRS
$dir"
	done
}

# Opens the transaction: the prefix, its staging directory, the journal's first lines.
begin() {
	ensure_dir "$R_PREFIX"
	mkdir -m 0700 "$ROOT$TXN" || fail "cannot create $ROOT$TXN"
	TXN_OPEN=true
	journal "begin $1"
	for dir in $CREATED_DIRS; do journal "dir $dir"; done
	journal "stage $R_PREFIX"
	STAGED=" $R_PREFIX "
}

# The staging directory beside DIR's files, made by this run.
open_stage() {
	case "$STAGED" in *" $1 "*) return 0 ;; esac
	if exists "$ROOT${1%/}/$STAGE"; then
		warn "removing $ROOT${1%/}/$STAGE: left by an earlier run"
		rm -rf "$ROOT${1%/}/$STAGE"
	fi
	journal "stage $1"
	mkdir -m 0700 "$ROOT${1%/}/$STAGE" || fail "cannot create $ROOT${1%/}/$STAGE"
	STAGED="$STAGED$1 "
}

# Where the file for P (resolved) waits in its staging directory.
held() { printf '%s\n' "$ROOT$(dirname "$1" | sed 's|/$||')/$STAGE/$(basename "$1")"; }

# Copies SOURCE into P's staging directory with MODE, owned by root.
stage_file() {
	open_stage "$(dirname "$1")"
	temp=$(held "$1")
	cp "$2" "$temp" && chmod "$3" "$temp" && chown 0:0 "$temp" || fail "cannot write $temp"
}

# Renames P's staged file over P, keeping the old one (hard link) until the transaction is done.
land() {
	temp=$(held "$1")
	if [ -d "$ROOT$1" ] && [ ! -L "$ROOT$1" ]; then fail "$ROOT$1 is a directory"; fi
	if exists "$ROOT$1"; then
		journal "replaced $1"
		ln "$ROOT$1" "$temp.backup" || fail "cannot keep a backup of $ROOT$1"
	else
		journal "new $1"
	fi
	mv -f "$temp" "$ROOT$1" || fail "cannot rename $temp to $ROOT$1"
}

# The transaction is complete: say so, then drop the staging directories (backups included).
finish() {
	journal done
	DONE=true
	for dir in $STAGED; do [ "$dir" = "$R_PREFIX" ] || rm -rf "$ROOT${dir%/}/$STAGE"; done
	rm -rf "$ROOT$TXN"
	TXN_OPEN=false
}

on_exit() {
	status=$?
	[ -z "$WORK" ] || rm -rf "$WORK"
	if [ "$DONE" = false ] && [ "$DRY_RUN" = false ]; then
		[ "$TXN_OPEN" = false ] || undo_journal
		[ "$status" -ne 0 ] || status=1
		echo "install.sh: nothing changed: every file was put back as it was" >&2
	fi
	exit "$status"
}
trap on_exit EXIT
trap 'exit 1' INT TERM HUP

R_PREFIX=$(resolve_in_root "$PREFIX") || exit 1
TXN=${R_PREFIX%/}/$STAGE
MANIFEST_AT=$(in_root "$MANIFEST") || exit 1

# ---- files install.sh wrote, and files changed since ------------------------------------------
file_hash() { if [ -f "$1" ] && [ ! -L "$1" ]; then sha256sum <"$1" | cut -d' ' -f1; else echo none; fi; }

# The sha256 the manifest recorded for P as written: "?" when it recorded none, "" when P is not listed.
recorded_hash() {
	[ -f "$ROOT$MANIFEST_AT" ] || return 0
	awk -v path="$1" '$1 == "file" && $2 == path { print ($3 == "" ? "?" : $3); exit }' "$ROOT$MANIFEST_AT"
}

# decide P RESOLVED SOURCE MODE: ACTION=same (already there), write, or keep (WHY: an admin's file).
decide() {
	if ! exists "$ROOT$2"; then
		ACTION=write
	elif [ -f "$ROOT$2" ] && [ ! -L "$ROOT$2" ] && cmp -s "$3" "$ROOT$2" &&
		[ "$(stat -c '%a %u %g' "$ROOT$2")" = "$(printf '%o' "0$4") 0 0" ]; then
		ACTION=same
	else
		recorded=$(recorded_hash "$1")
		if [ "$FORCE" = true ] || [ "$recorded" = "?" ] || { [ -n "$recorded" ] && [ "$recorded" = "$(file_hash "$ROOT$2")" ]; }; then
			ACTION=write
		else
			ACTION=keep
			if [ -n "$recorded" ]; then WHY="changed since install.sh wrote it"; else WHY="not written by install.sh"; fi
		fi
	fi
}

# True when the manifest recorded a sha256 for P and the file at RESOLVED no longer has it.
changed_since_written() {
	recorded=$(recorded_hash "$1")
	[ -n "$recorded" ] && [ "$recorded" != "?" ] && [ "$recorded" != "$(file_hash "$ROOT$2")" ]
}

# Takes RESOLVED off the node: moved into its staging directory, put back if the run fails.
remove_file() {
	open_stage "$(dirname "$1")"
	journal "removed $1"
	mv -f "$ROOT$1" "$(held "$1").removed" || fail "cannot remove $ROOT$1"
}

# The files earlier versions wrote that this one replaces, taken off once their replacements have
# landed (for a moment both run: a hook twice, never none), as --uninstall takes a file off: kept,
# with a warning, when changed since or not written by install.sh, unless --force.
retire_old() {
	[ "$USES_HOOKS_D" = true ] || return 0
	for path in $RETIRED_FILES; do
		at=$(in_root "$path") || fail "cannot resolve $path inside $ROOT"
		exists "$ROOT$at" || continue
		recorded=$(recorded_hash "$path")
		if [ "$FORCE" = false ] && { [ -z "$recorded" ] || changed_since_written "$path" "$at"; }; then
			if [ -n "$recorded" ]; then why="changed since install.sh wrote it"; else why="not written by install.sh"; fi
			note="$ROOT$at: $why; if it names armor-hook, containers get the hook twice at each stage (--force removes it)"
			if [ "$DRY_RUN" = true ]; then say "would keep $note"; else warn "kept $note"; fi
			continue
		fi
		RETIRED_GONE="$RETIRED_GONE$path "
		if [ "$DRY_RUN" = true ]; then
			say "would remove $ROOT$at: replaced by one hooks.d file per stage"
		else
			remove_file "$at"
			say "removed $ROOT$at: replaced by one hooks.d file per stage"
		fi
	done
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/armor-install.XXXXXX")
hooks_json createRuntime >"$WORK/hooks-createRuntime.json"
hooks_json poststop >"$WORK/hooks-poststop.json"
unit_text >"$WORK/unit"
nri_unit_text >"$WORK/nri-unit"

# containerd's base spec: the node's own default (ctr oci spec) with the hooks added, built by
# the agent binary being installed, which refuses a default that is not a spec. It is checked
# again, hook binary included, just before it lands.
if uses containerd && [ "$MODE" = install ]; then
	if [ -n "$DEFAULT_SPEC" ]; then
		cp "$DEFAULT_SPEC" "$WORK/default-spec.json" || fail "cannot read --containerd-default-spec $DEFAULT_SPEC"
	else
		ctr_bin=$(node_ctr) || fail "no ctr here to read containerd's default spec with (ctr oci spec): install containerd's ctr or pass --containerd-default-spec FILE"
		(cd / && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$ctr_bin" oci spec) >"$WORK/default-spec.json" 2>"$WORK/ctr.err" ||
			fail "$ctr_bin oci spec failed: $(cat "$WORK/ctr.err")"
	fi
	printf '{\n%s\n}\n' "$(runc_snippet)" >"$WORK/armor-hooks.json"
	exe=$(checker) || exit 1
	report=$(spec_tool "$exe" build --default "$WORK/default-spec.json" --hooks "$WORK/armor-hooks.json" 2>&1 >"$WORK/base-spec.json") ||
		fail "cannot build containerd's base spec: $report"
fi

# The plan, in the order files land: binaries before anything naming them, the agent's unit
# before the hook config that makes runtimes call the hook. Fields: path mode source why.
# One more file to install is one more line here: staging, the journal, the manifest,
# --dry-run, --force and --uninstall all follow from it.
PLAN="$HOOK_BIN 0755 $FROM/armor-hook the OCI hook runtimes execute at createRuntime and poststop
$AGENT_BIN 0755 $FROM/armor-agent the node agent the hook registers containers with"
if [ "$SYSTEMD" = yes ] && [ -n "$DOC_FILE" ]; then
	PLAN="$PLAN
$DOC_FILE 0644 $DOC_SRC the install guide the unit's Documentation= names"
fi
if [ "$SYSTEMD" = yes ]; then
	PLAN="$PLAN
$UNIT_FILE 0644 $WORK/unit systemd unit running the agent on $SOCKET, restarted when it exits"
	if uses containerd; then
		PLAN="$PLAN
$NRI_UNIT_FILE 0644 $WORK/nri-unit systemd unit running armor-agent nri, containerd's NRI plugin that injects the hook (enable it once NRI is on)"
	fi
fi
# poststop before createRuntime (and, at --uninstall, after it): no container is registered
# while the entry that unregisters it is missing.
if [ "$USES_HOOKS_D" = true ]; then
	PLAN="$PLAN
$HOOKS_FILE_POSTSTOP 0644 $WORK/hooks-poststop.json hooks.d entry (schema 1.0.0) that CRI-O, podman and the containerd NRI hook-injector inject at poststop
$HOOKS_FILE_CREATE 0644 $WORK/hooks-createRuntime.json hooks.d entry (schema 1.0.0) that CRI-O, podman and the containerd NRI hook-injector inject at createRuntime"
fi
if uses containerd; then
	PLAN="$PLAN
$BASE_SPEC 0644 $WORK/base-spec.json containerd base_runtime_spec: the node's default spec with the hooks at createRuntime and poststop"
fi
PLAN_PATHS=" $(printf '%s\n' "$PLAN" | while read -r path _; do printf '%s ' "$path"; done)"

# ---- what is left for the administrator ----------------------------------------------------
CONFIG_APPLIED=false
config_step() {
	if [ "$CONFIG_APPLIED" = true ]; then
		printf '%s' "install.sh set it in $CONTAINERD_CONFIG; now: systemctl restart containerd"
	elif config_names "$ROOT$(in_root "$CONTAINERD_CONFIG")" "$BASE_SPEC"; then
		printf '%s' "$CONTAINERD_CONFIG names it already; restart containerd if the spec changed"
	else
		printf '%s' "Point the runc runtime at it in $CONTAINERD_CONFIG (or run install.sh again with --apply-containerd-config), then: systemctl restart containerd"
	fi
}
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
- containerd, path 1 (containerd 1.7 or newer): NRI + armor-agent nri, our NRI plugin: it injects
  the hook into every container, hands the agent what runs each time it (re)connects, and
  registers pod sandboxes too.
  containerd 1.7: enable NRI in /etc/containerd/config.toml, then: systemctl restart containerd
      [plugins."io.containerd.nri.v1.nri"]
        disable = false
  containerd 2.x: NRI is on by default (check that disable = false).
  Then: $(if [ "$SYSTEMD" = yes ]; then printf 'systemctl daemon-reload && systemctl enable --now armor-nri.service'; else printf 'run, under your supervisor: env -u BUN_BE_BUN -u BUN_OPTIONS %s nri --hook-path %s --socket %s' "$AGENT_BIN" "$HOOK_BIN" "$SOCKET"; fi)
- containerd, path 2 (containerd 1.5 or newer, without NRI): base_runtime_spec. $BASE_SPEC
  is the node's default spec (ctr oci spec) with the hooks; containerd applies it to app
  containers, never to a pod's sandbox (pause) container. $(config_step)
STEPS
		spec_tool "$(checker)" lines --spec "$BASE_SPEC" | sed 's/^/      /'
		say "  containerd reads the spec only when it starts: restart it after an install that changed it."
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
		say "    env -u BUN_BE_BUN -u BUN_OPTIONS $AGENT_BIN serve --socket $SOCKET --reconcile$AGENT_STATE_ARGS"
	fi
	say "- Check: $AGENT_BIN list --socket $SOCKET   (a container started now appears there)"
}


# The manifest: what this and earlier installs wrote (with each file's sha256 as written), in
# landing order, for --uninstall. MANIFEST_FILES holds this run's lines; RETIRED_GONE the retired
# files this run removed.
MANIFEST_FILES=
RETIRED_GONE=" "
manifest_text() {
	if [ -f "$ROOT$MANIFEST_AT" ]; then
		sed -n 's/^file //p' "$ROOT$MANIFEST_AT" | while read -r path hash; do
			case "$PLAN_PATHS$RETIRED_GONE" in *" $path "*) ;; *) say "file $path${hash:+ $hash}" ;; esac
		done
	fi
	printf '%s' "$MANIFEST_FILES"
	[ ! -f "$ROOT$MANIFEST_AT" ] || sed -n '/^dir /p' "$ROOT$MANIFEST_AT"
	printf '%s\n' "$CREATED_DIRS" | sed '/^$/d; s/^/dir /'
}

# ---- uninstall ---------------------------------------------------------------------------------
if [ "$MODE" = uninstall ]; then
	if [ "$DRY_RUN" = true ]; then
		! exists "$ROOT$TXN" || say "would first finish or roll back the interrupted run that $ROOT$TXN/journal records"
	else
		recover
	fi
	if [ ! -f "$ROOT$MANIFEST_AT" ]; then
		say "nothing to uninstall: no $ROOT$MANIFEST_AT (installed with another --prefix?)"
		DONE=true
		exit 0
	fi
	files=$(sed -n 's/^file \([^ ]*\).*/\1/p' "$ROOT$MANIFEST_AT" | tac_lines)
	dirs=$(sed -n 's/^dir //p' "$ROOT$MANIFEST_AT" | tac_lines)
	unit_listed=false
	if printf '%s\n' "$files" | grep -qxF "$UNIT_FILE"; then unit_listed=true; fi
	nri_listed=false
	if printf '%s\n' "$files" | grep -qxF "$NRI_UNIT_FILE"; then nri_listed=true; fi
	# A file containerd's config names as base_runtime_spec stays until the config stops naming it
	# and containerd restarts: with the file gone its CRI plugin does not start (no pod runs), and
	# with the hook binary gone every container started from the spec it holds in memory fails.
	R_CONFIG=$(in_root "$CONTAINERD_CONFIG") || fail "cannot resolve $CONTAINERD_CONFIG inside $ROOT"
	named=
	for path in $files; do
		if config_names "$ROOT$R_CONFIG" "$path"; then named="$named $path"; fi
	done
	if [ -n "$named" ]; then
		[ "$APPLY_CONTAINERD_CONFIG" = true ] ||
			fail "$CONTAINERD_CONFIG still names$named as base_runtime_spec: take that line out (or run --uninstall --apply-containerd-config), restart containerd, then run --uninstall again"
		if [ "$DRY_RUN" = true ]; then
			say "would take base_runtime_spec =$named out of $ROOT$R_CONFIG, and remove nothing until containerd has restarted"
			DONE=true
			exit 0
		fi
		cp "$ROOT$R_CONFIG" "$WORK/config.toml"
		for path in $named; do
			spec_tool "$(checker)" unset "$WORK/config.toml" --spec "$path" >"$WORK/config.new" || fail "cannot edit $CONTAINERD_CONFIG"
			mv -f "$WORK/config.new" "$WORK/config.toml"
		done
		begin uninstall
		stage_file "$R_CONFIG" "$WORK/config.toml" "0$(stat -c '%a' "$ROOT$R_CONFIG")"
		land "$R_CONFIG"
		finish
		say "took base_runtime_spec =$named out of $ROOT$R_CONFIG"
		say "Next: systemctl restart containerd (it keeps the spec it read at start), then run install.sh --uninstall again to remove the rest."
		exit 0
	fi
	if [ "$DRY_RUN" = false ]; then
		begin uninstall
		if [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
			# The plugin first: no container gets a hook entry whose binary is about to go.
			if [ "$nri_listed" = true ]; then systemctl disable --now armor-nri.service || fail "systemctl disable --now armor-nri.service"; fi
			if [ "$unit_listed" = true ]; then systemctl disable --now armor-agent.service || fail "systemctl disable --now armor-agent.service"; fi
		fi
	elif [ -z "$ROOT" ]; then
		[ "$nri_listed" = false ] || say "would run: systemctl disable --now armor-nri.service"
		[ "$unit_listed" = false ] || say "would run: systemctl disable --now armor-agent.service"
	fi
	# Hook config first, binaries last: a runtime never sees an entry whose binary is gone.
	REMOVED=
	for path in $files $MANIFEST; do
		at=$(in_root "$path") || fail "cannot resolve $path inside $ROOT"
		exists "$ROOT$at" || continue
		if [ "$FORCE" = false ] && [ "$path" != "$MANIFEST" ] && changed_since_written "$path" "$at"; then
			if [ "$DRY_RUN" = true ]; then say "would keep $ROOT$at: changed since install.sh wrote it (--force removes it)"; else warn "kept $ROOT$at: changed since install.sh wrote it (--force removes it)"; fi
			continue
		fi
		if [ "$DRY_RUN" = true ]; then
			say "would remove $ROOT$at"
			continue
		fi
		remove_file "$at"
		REMOVED="$REMOVED $at"
	done
	if [ "$DRY_RUN" = true ]; then
		for dir in $dirs; do say "would remove directory $ROOT$dir (if empty)"; done
		DONE=true
		exit 0
	fi
	finish
	for at in $REMOVED; do say "removed $ROOT$at"; done
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
	! exists "$ROOT$TXN" || say "would first finish or roll back the interrupted run that $ROOT$TXN/journal records"
else
	recover
	begin install
fi

# Stage every file in its directory's staging directory, then prove the binaries run on this node.
CHANGED=
old_ifs=$IFS
IFS='
'
for line in $PLAN; do
	IFS=$old_ifs
	# shellcheck disable=SC2086 # split the plan line into its fields
	set -- $line
	why=${line#* * * }
	at=$(in_root "$1") || fail "cannot resolve $1 inside $ROOT"
	[ "$DRY_RUN" = true ] || ensure_dir "$(dirname "$at")"
	decide "$1" "$at" "$3" "$2"
	case "$ACTION" in
	same)
		say "unchanged $ROOT$at ($2 root:root): $why"
		MANIFEST_FILES="${MANIFEST_FILES}file $1 $(file_hash "$3")
"
		;;
	write)
		if [ "$DRY_RUN" = true ]; then
			say "would write $ROOT$at ($2 root:root): $why"
			case "$3" in "$WORK"/*) sed 's/^/    /' "$3" ;; esac
		else
			stage_file "$at" "$3" "$2"
			CHANGED="$CHANGED $at"
		fi
		MANIFEST_FILES="${MANIFEST_FILES}file $1 $(file_hash "$3")
"
		;;
	keep)
		if [ "$DRY_RUN" = true ]; then say "would keep $ROOT$at: $WHY (--force replaces it)"; else warn "kept $ROOT$at: $WHY (--force replaces it)"; fi
		recorded=$(recorded_hash "$1")
		[ -z "$recorded" ] || MANIFEST_FILES="${MANIFEST_FILES}file $1$([ "$recorded" = "?" ] || printf ' %s' "$recorded")
"
		;;
	esac
done
IFS=$old_ifs

if [ "$DRY_RUN" = true ]; then
	[ -z "$ROOT" ] && [ "$SYSTEMD" = yes ] && say "would run: systemctl daemon-reload; systemctl enable --now armor-agent.service"
	retire_old
	manifest_text >"$WORK/manifest"
	decide "$MANIFEST" "$MANIFEST_AT" "$WORK/manifest" 0644
	[ "$ACTION" = same ] ||
		say "would write $ROOT$MANIFEST_AT (0644 root:root): the list of what this install wrote, for --uninstall"
	next_steps
	DONE=true
	exit 0
fi

R_HOOK_BIN=$(in_root "$HOOK_BIN")
R_AGENT_BIN=$(in_root "$AGENT_BIN")
R_HOOKS_FILES=" $(in_root "$HOOKS_FILE_CREATE") $(in_root "$HOOKS_FILE_POSTSTOP") "
R_BASE_SPEC=$(in_root "$BASE_SPEC")
R_UNIT_FILE=$(in_root "$UNIT_FILE")
for bin in "$R_HOOK_BIN" "$R_AGENT_BIN"; do
	runnable="$ROOT$bin"
	case " $CHANGED " in *" $bin "*) runnable=$(held "$bin") ;; esac
	version=$(cd / && env -i "$runnable" --version 2>&1) || fail "$runnable does not run on this node: $version"
done

# Land them in plan order; the hooks.d file is checked once the binary it names is in place.
SERVICE_ENABLED=false
for at in $CHANGED; do
	case "$R_HOOKS_FILES" in *" $at "*)
		report=$(check_hooks_files "$ROOT$R_AGENT_BIN" "$(held "$at")" 2>&1) ||
			fail "the hooks.d entry would not load: $report"
		;;
	esac
	if [ "$at" = "$R_BASE_SPEC" ] && uses containerd; then
		report=$(spec_tool "$ROOT$R_AGENT_BIN" check "$(held "$at")" --root "$ROOT" 2>&1) ||
			fail "containerd's base spec would fail containers: $report"
	fi
	land "$at"
	say "wrote $ROOT$at"
	if [ "$at" = "$R_UNIT_FILE" ] && [ "$MANAGE_SERVICE" = true ]; then
		systemctl daemon-reload || fail "systemctl daemon-reload"
		journal enabled
		SERVICE_ENABLED=true
		systemctl enable --now armor-agent.service || fail "systemctl enable --now armor-agent.service"
	fi
done
if [ "$MANAGE_SERVICE" = true ] && [ "$SERVICE_ENABLED" = false ]; then
	systemctl is-active --quiet armor-agent.service || systemctl start armor-agent.service || fail "systemctl start armor-agent.service"
fi
retire_old

# Only behind --apply-containerd-config: the admin's containerd config, never in the manifest.
if uses containerd && [ "$APPLY_CONTAINERD_CONFIG" = true ]; then
	R_CONFIG=$(in_root "$CONTAINERD_CONFIG") || fail "cannot resolve $CONTAINERD_CONFIG inside $ROOT"
	report=$(spec_tool "$ROOT$R_AGENT_BIN" set "$ROOT$R_CONFIG" --spec "$BASE_SPEC" 2>&1 >"$WORK/config.toml") ||
		fail "cannot point $CONTAINERD_CONFIG at the base spec: $report"
	if ! cmp -s "$WORK/config.toml" "$ROOT$R_CONFIG"; then
		ensure_dir "$(dirname "$R_CONFIG")"
		mode=0644
		[ ! -f "$ROOT$R_CONFIG" ] || mode=0$(stat -c '%a' "$ROOT$R_CONFIG")
		stage_file "$R_CONFIG" "$WORK/config.toml" "$mode"
		land "$R_CONFIG"
		say "wrote $ROOT$R_CONFIG: the runc runtime's base_runtime_spec = \"$BASE_SPEC\""
		CONFIG_APPLIED=true
	fi
fi

manifest_text >"$WORK/manifest"
decide "$MANIFEST" "$MANIFEST_AT" "$WORK/manifest" 0644
if [ "$ACTION" != same ]; then
	stage_file "$MANIFEST_AT" "$WORK/manifest" 0644
	land "$MANIFEST_AT"
fi
finish


if [ "$USES_HOOKS_D" = true ]; then
	hooks_dir=$(resolve_in_root "$HOOKS_DIR")
	others=$(find "$ROOT$hooks_dir" -maxdepth 1 -name '*.json' -type f ! -name "$(basename "$HOOKS_FILE_CREATE")" ! -name "$(basename "$HOOKS_FILE_POSTSTOP")" 2>/dev/null | sort)
	if [ -n "$others" ]; then
		# shellcheck disable=SC2086 # one file a line, no spaces (checked paths)
		check_hooks_files "$ROOT$R_AGENT_BIN" $others >"$WORK/others" 2>&1 ||
			warn "other files in $HOOKS_DIR will not load as they are:
$(grep -v ': ok$' "$WORK/others")"
		rm -f "$WORK/others"
	fi
fi
say "armor-hooks installed in $ROOT$PREFIX"
next_steps
