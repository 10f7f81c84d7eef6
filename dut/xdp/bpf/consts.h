/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * consts.h: tunables of the BPF datapath. Each can be overridden at compile
 * time with -D (Katran style); the committed objects use the defaults.
 */
#ifndef DUTLAB_CONSTS_H
#define DUTLAB_CONSTS_H

/* How many stacked VLAN tags (802.1Q/802.1ad) the parser walks. */
#ifndef VLAN_MAX_DEPTH
#define VLAN_MAX_DEPTH 2
#endif

/* Entries in the egress devmap; the forwarder uses key 0 only. */
#ifndef TX_PORT_MAX
#define TX_PORT_MAX 1
#endif

#endif /* DUTLAB_CONSTS_H */
