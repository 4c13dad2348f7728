#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs a native reader in a bubblewrap sandbox (Debian: bubblewrap) that has
# its own user, PID, network, IPC and mount namespaces, /usr read-only and no
# other file: only the writer's socket is bound in. After it connects, the
# reader needs no file at all: its writer sends it the descriptors it maps.
#
#     ./hello_native_writer &                                 # /tmp/hello_world.sock
#     ./sandboxed_reader.sh ./hello_native_reader /tmp/hello_world.sock
#     version: 7 messages: ["Hello", "World", "!"]
#
# Bind a path socket in, as here: an abstract socket (@name) belongs to the
# writer's network namespace and cannot be reached from the sandbox's own.
# A reader checks the writer's uid (SO_PEERCRED); in a user namespace that
# does not map the writer's uid it sees 65534, and must be told that the
# socket vouches for the writer (MMSYNC_ANY_WRITER; `mmsync read --socket
# /run/writer.sock --any-writer`).
set -eu
reader=${1:?usage: sandboxed_reader.sh READER [SOCKET]}
sock=${2:-/tmp/hello_world.sock}
exec bwrap --unshare-all --die-with-parent --new-session \
	--ro-bind /usr /usr --ro-bind-try /lib /lib --ro-bind-try /lib64 /lib64 \
	--proc /proc --dev /dev --tmpfs /tmp \
	--ro-bind "$reader" /run/reader \
	--bind "$sock" /run/writer.sock \
	/run/reader /run/writer.sock
