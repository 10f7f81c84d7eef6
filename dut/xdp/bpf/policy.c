// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * policy.c: the policy appliance on XDP: blocklists, ICMP echo drop,
 * ordered firewall rules, TTL rewrite and an L4 load balancer (weighted
 * Maglev with a connection table, destination rewrite), in the order and
 * with the semantics of the Go reference model (dut/policy, read its package
 * comment): the differential tests hold this program to it byte for byte.
 *
 * Everything the policy says lives in maps, so a policy can change under a
 * running program; the loader (dut/xdp/policy.go) fills them.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "consts.h"
#include "parsing.h"

#define MAX_RULES 10240
#define CLASS_WORDS (MAX_RULES / 64)
#define SUM_WORDS ((CLASS_WORDS + 63) / 64)
#define MAX_VIPS 16
#define MAX_BACKENDS 64
#define MAGLEV_RING 65537
#define MAX_BLOCKLIST (1 << 20)

#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ICMPV6 58

enum action { ACT_ALLOW = 1, ACT_DROP = 2, ACT_COUNT = 3 };

/* Counters, the model's Counters. */
enum { CNT_FORWARDED, CNT_MALFORMED, CNT_BLOCKED, CNT_ICMP_ECHO, CNT_DEFAULT_DROP, CNT_MAX };

struct pol_config {
	__u32 nrules;
	__u32 out_ifindex; /* 0: XDP_TX (tests), else bpf_redirect */
	__u8 default_drop;
	__u8 icmp_drop;
	__u8 ttl; /* 0: no rewrite */
	__u8 pad;
	__u8 out_smac[ETH_ALEN];
	__u8 out_dmac[ETH_ALEN];
};

struct pol_rule {
	__u8 family; /* 0 any, 4, 6 */
	__u8 proto;  /* 0 any */
	__u8 action;
	__u8 flags_mask;
	__u8 flags_set;
	__u8 src_len; /* 0: any source (with family set, a /0) */
	__u8 dst_len;
	__u8 has_src;
	__u8 has_dst;
	__u8 has_ports;
	__u16 sport_lo, sport_hi, dport_lo, dport_hi;
	__u8 src[16];
	__u8 dst[16];
};

struct lpm_key4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm_key6 {
	__u32 prefixlen;
	__u8 addr[16];
};

struct vip_key {
	__u8 addr[16];
	__u16 port; /* host order */
	__u8 proto;
	__u8 family;
};

struct vip_val {
	__u32 index;
	__u32 nbackends;
};

struct backend {
	__u8 addr[16];
	__u8 mac[ETH_ALEN];
	__u8 family;
	__u8 pad;
};

struct flow_key {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport, dport; /* host order */
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pol_config);
} pol_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_RULES);
	__type(key, __u32);
	__type(value, struct pol_rule);
} pol_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_RULES);
	__type(key, __u32);
	__type(value, __u64);
} pol_rule_hits SEC(".maps");

/* The rule classifier (see dut/xdp/classifier.go): per field of a frame a
 * bitmap of the rules that field lets match. */
struct bitmap {
	__u64 w[CLASS_WORDS];
	__u64 sum[SUM_WORDS]; /* bit i: w[i] is not zero */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* the loader sizes it */
	__type(key, __u32);
	__type(value, struct bitmap);
} pol_bitmaps SEC(".maps");

/* Bitmap indices by field value: DIM_NONE (4: src4, src6, dst4, dst6 when
 * no prefix matches), DIM_PROTO (256), DIM_SPORT and DIM_DPORT (65536 ports
 * and one for a frame without ports), DIM_FLAGS (256 and one for a frame
 * without TCP flags). */
#define DIM_NONE 0
#define DIM_PROTO 4
#define DIM_SPORT (DIM_PROTO + 256)
#define DIM_DPORT (DIM_SPORT + 65537)
#define DIM_FLAGS (DIM_DPORT + 65537)
#define DIM_MAX (DIM_FLAGS + 257)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DIM_MAX);
	__type(key, __u32);
	__type(value, __u32);
} pol_dims SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAX_RULES + 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key4);
	__type(value, __u32);
} pol_src4 SEC(".maps"), pol_dst4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAX_RULES + 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key6);
	__type(value, __u32);
} pol_src6 SEC(".maps"), pol_dst6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} pol_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAX_BLOCKLIST);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key4);
	__type(value, __u8);
} pol_block4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAX_BLOCKLIST);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key6);
	__type(value, __u8);
} pol_block6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_VIPS);
	__type(key, struct vip_key);
	__type(value, struct vip_val);
} pol_vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_VIPS * MAGLEV_RING);
	__type(key, __u32);
	__type(value, __u32);
} pol_maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_VIPS * MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend);
} pol_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_VIPS);
	__type(key, __u32);
	__type(value, __u64);
} pol_vip_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_VIPS * MAX_BACKENDS);
	__type(key, __u32);
	__type(value, __u64);
} pol_backend_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* the loader sets lb.conn-table */
	__type(key, struct flow_key);
	__type(value, __u32);
} pol_conns SEC(".maps");

/* What parse found, the model's parsed. */
struct pkt {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport, dport;
	__u8 proto;
	__u8 ipv6;
	__u8 has_l3;
	__u8 has_ports;
	__u8 has_flags;
	__u8 tcp_flags;
	__s16 icmp_type; /* -1: no ICMP header */
};

static __always_inline void count(__u32 key)
{
	__u64 *c = bpf_map_lookup_elem(&pol_counters, &key);

	if (c)
		(*c)++;
}

static __always_inline void count_in(void *map, __u32 key)
{
	__u64 *c = bpf_map_lookup_elem(map, &key);

	if (c)
		(*c)++;
}

/* ctz64 is the index of the lowest set bit of m (m != 0), by de Bruijn
 * multiplication: BPF has no count-trailing-zeros instruction. */
static const __u8 debruijn64[64] = {
	0, 1, 48, 2, 57, 49, 28, 3, 61, 58, 50, 42, 38, 29, 17, 4,
	62, 55, 59, 36, 53, 51, 43, 22, 45, 39, 33, 30, 24, 18, 12, 5,
	63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44, 32, 23, 11,
	46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9, 13, 8, 7, 6,
};

static __always_inline __u32 ctz64(__u64 m)
{
	return debruijn64[(((m & -m) * 0x03f79d71b4cb0a89ULL) >> 58) & 63];
}

struct class_ctx {
	struct bitmap *b[6];
	__u64 cand[SUM_WORDS]; /* words where all six bitmaps have a rule */
	__u8 action;           /* 0: no rule ended the list */
	__s32 rule;
};

/* class_step takes the next candidate word i (in order) and looks at the
 * AND of the six bitmaps there: the matching rules i*64.. in order; count
 * rules are counted, the first other rule ends the list. */
static long class_step(__u32 n, void *data)
{
	struct class_ctx *c = data;
	__u32 i = CLASS_WORDS;
	__u64 m;
	int j, s;

#pragma unroll
	for (s = 0; s < SUM_WORDS; s++) {
		if (c->cand[s]) {
			i = s * 64 + ctz64(c->cand[s]);
			c->cand[s] &= c->cand[s] - 1;
			break;
		}
	}
	if (i >= CLASS_WORDS)
		return 1;
	m = c->b[0]->w[i] & c->b[1]->w[i] & c->b[2]->w[i] & c->b[3]->w[i] & c->b[4]->w[i] & c->b[5]->w[i];
	for (j = 0; j < 64 && m; j++) {
		__u32 rule = i * 64 + ctz64(m);
		struct pol_rule *r = bpf_map_lookup_elem(&pol_rules, &rule);

		if (!r)
			return 1;
		count_in(&pol_rule_hits, rule);
		if (r->action != ACT_COUNT) {
			c->action = r->action;
			c->rule = rule;
			return 1;
		}
		m &= m - 1;
	}
	return 0;
}

static __always_inline struct bitmap *dim_bitmap(__u32 key)
{
	__u32 *idx = bpf_map_lookup_elem(&pol_dims, &key);

	if (!idx)
		return 0;
	return bpf_map_lookup_elem(&pol_bitmaps, idx);
}

static __always_inline struct bitmap *addr_bitmap(void *trie4, void *trie6, const __u8 *addr, int ipv6, __u32 none)
{
	__u32 *idx;

	if (!ipv6) {
		struct lpm_key4 key = { .prefixlen = 32 };

		__builtin_memcpy(key.addr, addr, 4);
		idx = bpf_map_lookup_elem(trie4, &key);
	} else {
		struct lpm_key6 key = { .prefixlen = 128 };

		__builtin_memcpy(key.addr, addr, 16);
		idx = bpf_map_lookup_elem(trie6, &key);
	}
	if (idx)
		return bpf_map_lookup_elem(&pol_bitmaps, idx);
	return dim_bitmap(DIM_NONE + none);
}

/* classify runs the rules on k and returns the action that ended them, 0
 * when none did. A subprogram of its own, so its stack (the classifier's
 * context) is not added to the main program's. */
static __attribute__((noinline)) int classify(const struct pkt *k, __u32 nrules)
{
	struct class_ctx c = { .rule = -1 };
	int i;

	if (!k || !nrules)
		return 0;
	c.b[0] = addr_bitmap(&pol_src4, &pol_src6, k->src, k->ipv6, k->ipv6 ? 1 : 0);
	c.b[1] = addr_bitmap(&pol_dst4, &pol_dst6, k->dst, k->ipv6, k->ipv6 ? 3 : 2);
	c.b[2] = dim_bitmap(DIM_PROTO + k->proto);
	c.b[3] = dim_bitmap(DIM_SPORT + (k->has_ports ? k->sport : 65536));
	c.b[4] = dim_bitmap(DIM_DPORT + (k->has_ports ? k->dport : 65536));
	c.b[5] = dim_bitmap(DIM_FLAGS + (k->has_flags ? k->tcp_flags : 256));
#pragma unroll
	for (i = 0; i < 6; i++)
		if (!c.b[i])
			return 0;
#pragma unroll
	for (i = 0; i < SUM_WORDS; i++)
		c.cand[i] = c.b[0]->sum[i] & c.b[1]->sum[i] & c.b[2]->sum[i] & c.b[3]->sum[i] & c.b[4]->sum[i] & c.b[5]->sum[i];
	bpf_loop((nrules + 63) / 64, class_step, &c, 0);
	return c.action;
}

/* csum_replace updates the big-endian checksum at sum for the 16-bit words
 * of old becoming new (RFC 1624 eqn. 3, folded twice), as the model's
 * csumReplace does. n is the number of bytes (even). */
static __always_inline __u16 csum_replace(__u16 sum_be, const __u8 *old, const __u8 *new, int n)
{
	__u32 s = (__u16)~bpf_ntohs(sum_be);
	int i;

	for (i = 0; i < 16; i += 2) {
		if (i >= n)
			break;
		s += (__u16)~(((__u16)old[i] << 8) | old[i + 1]);
		s += ((__u16)new[i] << 8) | new[i + 1];
	}
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return bpf_htons((__u16)~s);
}

static __always_inline __u32 rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 mix(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = rotl32(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = rotl32(h, 13);
	return h * 5 + 0xe6546b64;
}

static __always_inline __u32 le32(const __u8 *b)
{
	return (__u32)b[0] | ((__u32)b[1] << 8) | ((__u32)b[2] << 16) | ((__u32)b[3] << 24);
}

/* flow_hash is the model's Flow.Hash. */
static __always_inline __u32 flow_hash(const struct pkt *k)
{
	int words = k->ipv6 ? 4 : 1, i;
	__u32 h = 0x9747b28c;
	__u8 ports[4];

#pragma unroll
	for (i = 0; i < 4; i++)
		if (i < words)
			h = mix(h, le32(&k->src[4 * i]));
#pragma unroll
	for (i = 0; i < 4; i++)
		if (i < words)
			h = mix(h, le32(&k->dst[4 * i]));
	ports[0] = k->sport >> 8;
	ports[1] = k->sport;
	ports[2] = k->dport >> 8;
	ports[3] = k->dport;
	h = mix(h, le32(ports));
	h = mix(h, k->proto);
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* balance finds the frame's backend: the connection table's, or the
 * Maglev slot's (then remembered). NULL when the frame is not to a VIP. */
static __always_inline struct backend *balance(const struct pkt *k, __u32 *vip_out, __u32 *bidx_out)
{
	struct vip_key vk = {};
	struct flow_key fk = {};
	struct vip_val *v;
	__u32 *slot, *known, b, key;

	__builtin_memcpy(vk.addr, k->dst, 16);
	vk.port = k->dport;
	vk.proto = k->proto;
	vk.family = k->ipv6 ? 6 : 4;
	v = bpf_map_lookup_elem(&pol_vips, &vk);
	if (!v)
		return 0;
	__builtin_memcpy(fk.src, k->src, 16);
	__builtin_memcpy(fk.dst, k->dst, 16);
	fk.sport = k->sport;
	fk.dport = k->dport;
	fk.proto = k->proto;
	fk.family = vk.family;
	known = bpf_map_lookup_elem(&pol_conns, &fk);
	if (known && *known < v->nbackends) {
		b = *known;
	} else {
		key = v->index * MAGLEV_RING + flow_hash(k) % MAGLEV_RING;
		slot = bpf_map_lookup_elem(&pol_maglev, &key);
		if (!slot)
			return 0;
		b = *slot;
		bpf_map_update_elem(&pol_conns, &fk, &b, BPF_ANY);
	}
	if (b >= MAX_BACKENDS)
		return 0;
	*vip_out = v->index;
	*bidx_out = b;
	key = v->index * MAX_BACKENDS + b;
	return bpf_map_lookup_elem(&pol_backends, &key);
}

SEC("xdp")
int xdp_policy(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct hdr_cursor cur = { .pos = data };
	struct ethhdr *eth;
	struct iphdr *iph = 0;
	struct ipv6hdr *ip6h = 0;
	struct pol_config *cfg;
	struct pkt k = { .icmp_type = -1 };
	__u8 *l4 = 0;
	__u32 zero = 0;
	int eth_type;

	cfg = bpf_map_lookup_elem(&pol_cfg, &zero);
	if (!cfg)
		return XDP_ABORTED;

	/* 1-3: parse. */
	eth_type = parse_ethhdr(&cur, data_end, &eth);
	if (eth_type < 0)
		goto malformed;
	if (eth_type == ETH_P_IP) {
		if (parse_iphdr(&cur, data_end, &iph) < 0)
			goto malformed;
		k.has_l3 = 1;
		k.proto = iph->protocol;
		__builtin_memcpy(k.src, &iph->saddr, 4);
		__builtin_memcpy(k.dst, &iph->daddr, 4);
		if ((iph->frag_off & bpf_htons(0x1fff)) == 0)
			l4 = cur.pos;
	} else if (eth_type == ETH_P_IPV6) {
		if (parse_ip6hdr(&cur, data_end, &ip6h) < 0)
			goto malformed;
		k.has_l3 = 1;
		k.ipv6 = 1;
		k.proto = ip6h->nexthdr;
		__builtin_memcpy(k.src, &ip6h->saddr, 16);
		__builtin_memcpy(k.dst, &ip6h->daddr, 16);
		l4 = cur.pos;
	}
	if (l4) {
		if (k.proto == PROTO_TCP) {
			if ((void *)(l4 + 20) > data_end)
				goto malformed;
			k.has_ports = k.has_flags = 1;
			k.sport = ((__u16)l4[0] << 8) | l4[1];
			k.dport = ((__u16)l4[2] << 8) | l4[3];
			k.tcp_flags = l4[13];
		} else if (k.proto == PROTO_UDP) {
			if ((void *)(l4 + 8) > data_end)
				goto malformed;
			k.has_ports = 1;
			k.sport = ((__u16)l4[0] << 8) | l4[1];
			k.dport = ((__u16)l4[2] << 8) | l4[3];
		} else if ((!k.ipv6 && k.proto == PROTO_ICMP) || (k.ipv6 && k.proto == PROTO_ICMPV6)) {
			if ((void *)(l4 + 4) > data_end)
				goto malformed;
			k.icmp_type = l4[0];
		} else {
			l4 = 0;
		}
	}

	if (k.has_l3) {
		/* 4: blocklists. */
		if (!k.ipv6) {
			struct lpm_key4 key = { .prefixlen = 32 };

			__builtin_memcpy(key.addr, k.src, 4);
			if (bpf_map_lookup_elem(&pol_block4, &key)) {
				count(CNT_BLOCKED);
				return XDP_DROP;
			}
		} else {
			struct lpm_key6 key = { .prefixlen = 128 };

			__builtin_memcpy(key.addr, k.src, 16);
			if (bpf_map_lookup_elem(&pol_block6, &key)) {
				count(CNT_BLOCKED);
				return XDP_DROP;
			}
		}
		/* 5: ICMP echo. */
		if (cfg->icmp_drop && ((!k.ipv6 && k.icmp_type == 8) || (k.ipv6 && k.icmp_type == 128))) {
			count(CNT_ICMP_ECHO);
			return XDP_DROP;
		}
		/* 6: rules. */
		{
			__u32 n = cfg->nrules;
			int action;

			if (n > MAX_RULES)
				n = MAX_RULES;
			action = classify(&k, n);
			if (action == ACT_DROP)
				return XDP_DROP;
			if (!action && cfg->default_drop) {
				count(CNT_DEFAULT_DROP);
				return XDP_DROP;
			}
		}
		/* 7: TTL rewrite. */
		if (cfg->ttl) {
			if (iph) {
				__u8 old[2] = { iph->ttl, iph->protocol }, new[2] = { cfg->ttl, iph->protocol };

				iph->ttl = cfg->ttl;
				iph->check = csum_replace(iph->check, old, new, 2);
			} else if (ip6h) {
				ip6h->hop_limit = cfg->ttl;
			}
		}
	}

	/* 8: load balancer. */
	if (k.has_ports && l4) {
		__u32 vi = 0, bi = 0;
		struct backend *b = balance(&k, &vi, &bi);

		if (b) {
			__u8 old[16];
			__u16 *csum;

			if (iph) {
				__builtin_memcpy(old, &iph->daddr, 4);
				__builtin_memcpy(&iph->daddr, b->addr, 4);
				iph->check = csum_replace(iph->check, old, b->addr, 4);
			} else if (ip6h) {
				__builtin_memcpy(old, &ip6h->daddr, 16);
				__builtin_memcpy(&ip6h->daddr, b->addr, 16);
			}
			if (k.proto == PROTO_TCP) {
				if ((void *)(l4 + 20) > data_end)
					return XDP_ABORTED;
				csum = (__u16 *)(l4 + 16);
			} else {
				if ((void *)(l4 + 8) > data_end)
					return XDP_ABORTED;
				csum = (__u16 *)(l4 + 6);
			}
			if (!(k.proto == PROTO_UDP && *csum == 0 && !k.ipv6)) {
				__u16 ns = csum_replace(*csum, old, b->addr, k.ipv6 ? 16 : 4);

				if (k.proto == PROTO_UDP && ns == 0)
					ns = 0xffff;
				*csum = ns;
			}
			__builtin_memcpy(eth->h_dest, b->mac, ETH_ALEN);
			__builtin_memcpy(eth->h_source, cfg->out_smac, ETH_ALEN);
			count_in(&pol_vip_hits, vi);
			count_in(&pol_backend_hits, vi * MAX_BACKENDS + bi);
			goto forward;
		}
	}
	__builtin_memcpy(eth->h_dest, cfg->out_dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, cfg->out_smac, ETH_ALEN);
forward:
	count(CNT_FORWARDED);
	if (cfg->out_ifindex)
		return bpf_redirect(cfg->out_ifindex, 0);
	return XDP_TX;

malformed:
	count(CNT_MALFORMED);
	return XDP_DROP;
}

char _license[] SEC("license") = "Dual BSD/GPL";
