/* SPDX-License-Identifier: MIT */
/* bpf_state.h in a build without BPF (meson -Dbpf=disabled): no state map,
 * no iterator, no pins. Writers keep their header in the memfd alone, as
 * they do where BPF is refused; what asks for BPF gets -ENOSYS. */
#include "bpf_state.h"

#include <errno.h>
#include <stddef.h>

#include "native_layout.h"

int bpf_state_create(struct bpf_state **out, const char *name, bool keep_pins, void **map)
{
	(void)name;
	(void)keep_pins;
	(void)map;
	*out = NULL;
	return -ENOSYS;
}

void bpf_state_destroy(struct bpf_state *bs)
{
	(void)bs; /* always NULL here */
}

void bpf_state_release(struct bpf_state *bs)
{
	(void)bs;
}

int bpf_state_read(const char *name, struct native_header *out)
{
	(void)out;
	return native_name_valid(name) ? -EINVAL : -ENOSYS;
}
