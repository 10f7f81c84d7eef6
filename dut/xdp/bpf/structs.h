/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * structs.h: types shared with user space. bpf2go emits Go twins of them
 * (-type), so keep them free of kernel-only types and keep names distinct
 * from map names.
 */
#ifndef DUTLAB_STRUCTS_H
#define DUTLAB_STRUCTS_H

#include <linux/types.h>
#include <linux/bpf.h>

/*
 * Keys of the stats map. The first five equal the XDP verdicts, so a verdict
 * is counted with stats[verdict]; STAT_RX counts every frame the entry point
 * saw, whatever its verdict. The enum never reaches BTF (no variable has
 * its type), so the Go side mirrors it by hand in stats.go; keep them equal.
 */
enum stat_key {
	STAT_ABORTED = XDP_ABORTED,
	STAT_DROP = XDP_DROP,
	STAT_PASS = XDP_PASS,
	STAT_TX = XDP_TX,
	STAT_REDIRECT = XDP_REDIRECT,
	STAT_RX,
	STAT_MAX,
};

/* One stats slot (per CPU): frames and their bytes (data_end - data). */
struct datarec {
	__u64 packets;
	__u64 bytes;
};

#endif /* DUTLAB_STRUCTS_H */
