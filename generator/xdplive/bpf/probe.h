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

/* Frame offsets of the untagged templates that generator.BuildUDP builds. */
#define ETH_LEN 14
#define V4_UDP_OFF (ETH_LEN + 20)
#define V6_UDP_OFF (ETH_LEN + 40)
#define V4_PROBE_OFF (V4_UDP_OFF + 8)
#define V6_PROBE_OFF (V6_UDP_OFF + 8)
/* Bytes of the template xdp_gen rewrites on every frame: headers + probe. */
#define V4_COPY_LEN (V4_PROBE_OFF + PROBE_LEN) /* 60 */
#define V6_COPY_LEN (V6_PROBE_OFF + PROBE_LEN) /* 80 */
