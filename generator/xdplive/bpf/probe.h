/* Probe layout shared by xdp_gen and xdp_sink. It mirrors generator.Probe*
 * in generator/template.go: the first ProbeLen bytes of every generated UDP
 * payload, all fields big-endian. Included by BPF code only. */
#pragma once

#define PROBE_SIGNATURE 0x444c5031 /* "DLP1" */
#define PROBE_SIG_OFF 0
#define PROBE_STREAM_OFF 4
#define PROBE_SEQ_OFF 6
#define PROBE_TS_OFF 10
#define PROBE_LEN 18

/* Bounds of a field program (generator.MaxFields, generator.MaxCopyLen). */
#define GEN_MAX_FIELDS 4
#define GEN_MAX_COPY 96 /* Ethernet + 802.1Q + IPv6 + TCP + probe */
#define GEN_MIN_COPY 60 /* every frame holds this much: 64 bytes less the FCS */
