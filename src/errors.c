/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "mmsync.h"

/* What an errno means when this library returns it; anything else gets
 * the C library's text (strerrordesc_np: thread-safe, no locale). */
const char *mmsync_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0: return "success";
	case ENOENT: return "no such segment (state file missing)";
	case ENODATA: return "nothing published yet";
	case EBADMSG: return "segment damaged or inconsistent (bad size, short data file or checksum mismatch)";
	case EBUSY: return "busy (another writer holds the lock, or this reader already holds a view)";
	case ESTALE: return "stale: the view was held past the writer's grace period (its bytes may have been overwritten), or the segment was replaced by a new generation (make the reader again)";
	case EUSERS: return "the writer has max_readers readers: no slot free";
	case EPROTO: return "not an mmsync writer, or another protocol or layout version";
	case EPIPE: return "the writer has gone";
	case ECONNREFUSED: return "no writer on this socket, or the writer refused this peer";
	case EMSGSIZE: return "payload larger than the 39-bit size of a version word";
	case EINVAL: return "invalid argument (or a segment file that is not a regular file)";
	case EPERM: return "not trusted: a segment file of another owner or with more than one link, or a writer running as another uid (see trust_uid, --trust)";
	case ELOOP: return "a segment file is a symbolic link: not followed";
	case ENOSPC: return "no space left: the file system is full, or the copy cannot grow";
	case ECONNRESET: return "the writer revoked this reader (its connection failed): make a new reader";
	case EAGAIN: return "the writer could not serve this reader now (it is out of descriptors or memory: its log says which): try again";
	case ENOSYS: return "not available: this libmmsync was built without it (BPF), or the kernel lacks it";
	case ETIMEDOUT: return "timed out (connect: the writer accepted no connection in time: does it call mmsync_writer_dispatch() or run the service thread (MMSYNC_LISTEN_SERVE)? Or, with MMSYNC_NO_RESET, readers held the copy past the grace period: nothing was published)";
	case ECHILD: return "this writer handle was inherited across fork() from a process where its service thread runs: it is that process's; make this process's own";
	}
	const char *s = strerrordesc_np(err);
	return s ? s : "unknown error";
}
