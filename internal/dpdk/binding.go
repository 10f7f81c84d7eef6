//go:build dpdk && cgo

package dpdk

/*
#cgo pkg-config: libdpdk
#cgo LDFLAGS: -lrte_net_ring
#include <stdio.h>
#include <stdlib.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_ring.h>
#include <rte_eth_ring.h>

static int dl_errno(void) { return rte_errno; }
static int dl_log_to_stderr(void) { return rte_openlog_stream(stderr); }

static uint8_t *dl_mbuf_data(struct rte_mbuf *m, uint16_t *len)
{
	*len = m->data_len;
	return rte_pktmbuf_mtod(m, uint8_t *);
}
static int dl_mbuf_set(struct rte_mbuf *m, const void *b, uint16_t n)
{
	if (n > rte_pktmbuf_tailroom(m) + m->data_len)
		return -ENOSPC;
	memcpy(rte_pktmbuf_mtod(m, void *), b, n);
	m->data_len = n;
	m->pkt_len = n;
	return 0;
}
static int dl_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **m, unsigned n) { return rte_pktmbuf_alloc_bulk(mp, m, n); }
static void dl_free_bulk(struct rte_mbuf **m, unsigned n) { rte_pktmbuf_free_bulk(m, n); }
static uint16_t dl_rx_burst(uint16_t p, uint16_t q, struct rte_mbuf **m, uint16_t n) { return rte_eth_rx_burst(p, q, m, n); }
static uint16_t dl_tx_burst(uint16_t p, uint16_t q, struct rte_mbuf **m, uint16_t n) { return rte_eth_tx_burst(p, q, m, n); }

static int dl_port_configure(uint16_t p, uint16_t rxq, uint16_t txq)
{
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	return rte_eth_dev_configure(p, rxq, txq, &conf);
}
static int dl_rxq_setup(uint16_t p, uint16_t q, uint16_t desc, struct rte_mempool *mp)
{
	return rte_eth_rx_queue_setup(p, q, desc, rte_eth_dev_socket_id(p), NULL, mp);
}
static int dl_txq_setup(uint16_t p, uint16_t q, uint16_t desc)
{
	return rte_eth_tx_queue_setup(p, q, desc, rte_eth_dev_socket_id(p), NULL);
}
static int dl_link(uint16_t p, uint32_t *speed, int *up)
{
	struct rte_eth_link l;
	int ret = rte_eth_link_get_nowait(p, &l);
	*speed = l.link_speed;
	*up = l.link_status;
	return ret;
}

// dl_ring_pair creates two ethdevs wired to each other through two rings.
static int dl_ring_pair(const char *name, const char *a, const char *b, int *pa, int *pb)
{
	char rn[RTE_RING_NAMESIZE];
	struct rte_ring *r0, *r1;
	snprintf(rn, sizeof(rn), "%s_ab", name);
	r0 = rte_ring_create(rn, 4096, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(rn, sizeof(rn), "%s_ba", name);
	r1 = rte_ring_create(rn, 4096, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (r0 == NULL || r1 == NULL)
		return -rte_errno;
	*pa = rte_eth_from_rings(a, &r1, 1, &r0, 1, SOCKET_ID_ANY);
	if (*pa < 0)
		return -rte_errno;
	*pb = rte_eth_from_rings(b, &r0, 1, &r1, 1, SOCKET_ID_ANY);
	if (*pb < 0)
		return -rte_errno;
	return 0;
}
*/
import "C"

import (
	"fmt"
	"net"
	"unsafe"
)

// Built reports whether the binding was compiled in (build tag "dpdk").
const Built = true

// Errno is a DPDK error number (rte_errno or a negative return value).
type Errno int

func (e Errno) Error() string { return C.GoString(C.rte_strerror(C.int(e))) }

// errRet turns a DPDK return value into an error: negative values are -errno.
func errRet(op string, ret C.int) error {
	if ret >= 0 {
		return nil
	}
	return fmt.Errorf("%s: %w", op, Errno(-ret))
}

// errRte reports rte_errno for calls that signal failure with NULL or -1.
func errRte(op string) error {
	return fmt.Errorf("%s: %w", op, Errno(C.dl_errno()))
}

// Init initialises the EAL with args (args[0] is the program name). It sends
// DPDK's log to stderr (not stdout and syslog), so stdout stays free for
// stats. Call it once per process, from the thread that becomes the main
// lcore (lock it with runtime.LockOSThread).
func Init(args []string) error {
	C.dl_log_to_stderr()
	argv := make([]*C.char, len(args))
	for i, a := range args {
		argv[i] = C.CString(a)
	}
	// The EAL may keep pointers into argv, so the strings are never freed.
	cargv := (**C.char)(C.malloc(C.size_t(len(argv)) * C.size_t(unsafe.Sizeof(argv[0]))))
	copy(unsafe.Slice(cargv, len(argv)), argv)
	if ret := C.rte_eal_init(C.int(len(args)), cargv); ret < 0 {
		return errRte("rte_eal_init")
	}
	return nil
}

// EALCleanup releases the EAL's resources (rte_eal_cleanup). Stop and close
// ports first.
func EALCleanup() error { return errRet("rte_eal_cleanup", C.rte_eal_cleanup()) }

// MainLcore is the lcore id of the main thread.
func MainLcore() uint { return uint(C.rte_get_main_lcore()) }

// LcoreCount is the number of enabled lcores.
func LcoreCount() uint { return uint(C.rte_lcore_count()) }

// Lcores lists the enabled lcore ids, main first.
func Lcores() []uint {
	ids := []uint{MainLcore()}
	for i := C.rte_get_next_lcore(C.uint(^uint32(0)), 1, 0); i < C.RTE_MAX_LCORE; i = C.rte_get_next_lcore(i, 1, 0) {
		ids = append(ids, uint(i))
	}
	return ids
}

// WaitLcore waits for the function launched on lcore and returns its result.
func WaitLcore(lcore uint) int { return int(C.rte_eal_wait_lcore(C.uint(lcore))) }

// TSCHz is the TSC frequency.
func TSCHz() uint64 { return uint64(C.rte_get_tsc_hz()) }

// Mempool is a pool of packet mbufs.
type Mempool struct{ p *C.struct_rte_mempool }

// NewPktmbufPool creates a pool of n mbufs (rte_pktmbuf_pool_create) with
// dataRoom bytes of buffer each (headroom included); 0 means the default size.
func NewPktmbufPool(name string, n, cache uint, dataRoom uint16) (*Mempool, error) {
	if dataRoom == 0 {
		dataRoom = C.RTE_MBUF_DEFAULT_BUF_SIZE
	}
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	p := C.rte_pktmbuf_pool_create(cn, C.uint(n), C.uint(cache), 0, C.uint16_t(dataRoom), C.rte_socket_id_by_idx(0))
	if p == nil {
		return nil, errRte("rte_pktmbuf_pool_create " + name)
	}
	return &Mempool{p}, nil
}

// Free releases the pool; every mbuf must be back in it.
func (m *Mempool) Free() { C.rte_mempool_free(m.p) }

// Avail is the number of mbufs in the pool (caches included).
func (m *Mempool) Avail() uint { return uint(C.rte_mempool_avail_count(m.p)) }

// Mbuf is a packet buffer owned by DPDK.
type Mbuf C.struct_rte_mbuf

// AllocBulk takes n mbufs from the pool, all or none.
func (m *Mempool) AllocBulk(n int) ([]*Mbuf, error) {
	out := make([]*Mbuf, n)
	if n == 0 {
		return out, nil
	}
	if ret := C.dl_alloc_bulk(m.p, (**C.struct_rte_mbuf)(unsafe.Pointer(&out[0])), C.uint(n)); ret != 0 {
		return nil, errRet("rte_pktmbuf_alloc_bulk", -C.ENOBUFS)
	}
	return out, nil
}

// FreeBulk returns mbufs to their pools.
func FreeBulk(ms []*Mbuf) {
	if len(ms) > 0 {
		C.dl_free_bulk((**C.struct_rte_mbuf)(unsafe.Pointer(&ms[0])), C.uint(len(ms)))
	}
}

// Data is the first segment's data; it aliases DPDK memory, valid until freed.
func (m *Mbuf) Data() []byte {
	var n C.uint16_t
	p := C.dl_mbuf_data((*C.struct_rte_mbuf)(m), &n)
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

// SetData copies b into the mbuf and sets its length.
func (m *Mbuf) SetData(b []byte) error {
	if len(b) == 0 {
		return errRet("set mbuf data", -C.EINVAL)
	}
	return errRet("set mbuf data", C.dl_mbuf_set((*C.struct_rte_mbuf)(m), unsafe.Pointer(&b[0]), C.uint16_t(len(b))))
}

// Port is an ethdev port id.
type Port uint16

// PortCount is the number of available ethdev ports.
func PortCount() int { return int(C.rte_eth_dev_count_avail()) }

// PortByName finds a port by its device name (e.g. "net_null0").
func PortByName(name string) (Port, error) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var id C.uint16_t
	if ret := C.rte_eth_dev_get_port_by_name(cn, &id); ret != 0 {
		return 0, errRet("find port "+name, ret)
	}
	return Port(id), nil
}

// Name is the port's device name.
func (p Port) Name() (string, error) {
	var b [C.RTE_ETH_NAME_MAX_LEN]C.char
	if ret := C.rte_eth_dev_get_name_by_port(C.uint16_t(p), &b[0]); ret != 0 {
		return "", errRet("port name", ret)
	}
	return C.GoString(&b[0]), nil
}

// Configure sets the number of RX and TX queues (default port configuration).
func (p Port) Configure(rxq, txq uint16) error {
	return errRet(fmt.Sprintf("configure port %d", p), C.dl_port_configure(C.uint16_t(p), C.uint16_t(rxq), C.uint16_t(txq)))
}

// RxQueueSetup sets up RX queue q with desc descriptors filled from pool.
func (p Port) RxQueueSetup(q, desc uint16, pool *Mempool) error {
	return errRet(fmt.Sprintf("set up rx queue %d of port %d", q, p), C.dl_rxq_setup(C.uint16_t(p), C.uint16_t(q), C.uint16_t(desc), pool.p))
}

// TxQueueSetup sets up TX queue q with desc descriptors.
func (p Port) TxQueueSetup(q, desc uint16) error {
	return errRet(fmt.Sprintf("set up tx queue %d of port %d", q, p), C.dl_txq_setup(C.uint16_t(p), C.uint16_t(q), C.uint16_t(desc)))
}

// Start starts the port.
func (p Port) Start() error {
	return errRet(fmt.Sprintf("start port %d", p), C.rte_eth_dev_start(C.uint16_t(p)))
}

// Stop stops the port.
func (p Port) Stop() error {
	return errRet(fmt.Sprintf("stop port %d", p), C.rte_eth_dev_stop(C.uint16_t(p)))
}

// Close releases the port (for af_xdp: detaches the XDP program).
func (p Port) Close() error {
	return errRet(fmt.Sprintf("close port %d", p), C.rte_eth_dev_close(C.uint16_t(p)))
}

// Promiscuous turns promiscuous mode on or off.
func (p Port) Promiscuous(on bool) error {
	if on {
		return errRet("enable promiscuous mode", C.rte_eth_promiscuous_enable(C.uint16_t(p)))
	}
	return errRet("disable promiscuous mode", C.rte_eth_promiscuous_disable(C.uint16_t(p)))
}

// PortStats are the basic ethdev counters.
type PortStats struct {
	IPackets, OPackets, IBytes, OBytes, IMissed, IErrors, OErrors, RxNoMbuf uint64
}

// Stats reads the port's basic counters.
func (p Port) Stats() (PortStats, error) {
	var s C.struct_rte_eth_stats
	if ret := C.rte_eth_stats_get(C.uint16_t(p), &s); ret != 0 {
		return PortStats{}, errRet("read port stats", ret)
	}
	return PortStats{uint64(s.ipackets), uint64(s.opackets), uint64(s.ibytes), uint64(s.obytes),
		uint64(s.imissed), uint64(s.ierrors), uint64(s.oerrors), uint64(s.rx_nombuf)}, nil
}

// ResetStats zeroes the port's basic counters.
func (p Port) ResetStats() error {
	return errRet("reset port stats", C.rte_eth_stats_reset(C.uint16_t(p)))
}

// Xstats reads the port's extended counters by name.
func (p Port) Xstats() (map[string]uint64, error) {
	n := C.rte_eth_xstats_get_names(C.uint16_t(p), nil, 0)
	if n < 0 {
		return nil, errRet("count xstats", n)
	}
	if n == 0 {
		return map[string]uint64{}, nil
	}
	names := make([]C.struct_rte_eth_xstat_name, n)
	vals := make([]C.struct_rte_eth_xstat, n)
	if ret := C.rte_eth_xstats_get_names(C.uint16_t(p), &names[0], C.uint(n)); ret < 0 {
		return nil, errRet("read xstat names", ret)
	}
	got := C.rte_eth_xstats_get(C.uint16_t(p), &vals[0], C.uint(n))
	if got < 0 {
		return nil, errRet("read xstats", got)
	}
	out := make(map[string]uint64, int(got))
	for _, v := range vals[:min(int(got), int(n))] {
		if int(v.id) < int(n) {
			out[C.GoString(&names[v.id].name[0])] = uint64(v.value)
		}
	}
	return out, nil
}

// Link is a port's link state.
type Link struct {
	Up        bool
	SpeedMbps uint32
}

// Link reads the link state without waiting.
func (p Port) Link() (Link, error) {
	var speed C.uint32_t
	var up C.int
	if ret := C.dl_link(C.uint16_t(p), &speed, &up); ret != 0 {
		return Link{}, errRet("read link", ret)
	}
	return Link{Up: up != 0, SpeedMbps: uint32(speed)}, nil
}

// MAC is the port's MAC address.
func (p Port) MAC() (net.HardwareAddr, error) {
	var a C.struct_rte_ether_addr
	if ret := C.rte_eth_macaddr_get(C.uint16_t(p), &a); ret != 0 {
		return nil, errRet("read mac address", ret)
	}
	return net.HardwareAddr(C.GoBytes(unsafe.Pointer(&a.addr_bytes[0]), 6)), nil
}

// RxBurst receives up to len(pkts) mbufs from queue q: the slow path, one
// cgo call per burst, for tests and control traffic.
func (p Port) RxBurst(q uint16, pkts []*Mbuf) int {
	if len(pkts) == 0 {
		return 0
	}
	return int(C.dl_rx_burst(C.uint16_t(p), C.uint16_t(q), (**C.struct_rte_mbuf)(unsafe.Pointer(&pkts[0])), C.uint16_t(len(pkts))))
}

// TxBurst sends mbufs on queue q and returns how many the port took; the rest
// still belong to the caller.
func (p Port) TxBurst(q uint16, pkts []*Mbuf) int {
	if len(pkts) == 0 {
		return 0
	}
	return int(C.dl_tx_burst(C.uint16_t(p), C.uint16_t(q), (**C.struct_rte_mbuf)(unsafe.Pointer(&pkts[0])), C.uint16_t(len(pkts))))
}

// RingPair creates two ethdev ports wired back to back through rte_rings
// (net_ring): what one sends the other receives.
func RingPair(name string) (a, b Port, err error) {
	cn, ca, cb := C.CString(name), C.CString(name+"_a"), C.CString(name+"_b")
	defer C.free(unsafe.Pointer(cn))
	defer C.free(unsafe.Pointer(ca))
	defer C.free(unsafe.Pointer(cb))
	var pa, pb C.int
	if ret := C.dl_ring_pair(cn, ca, cb, &pa, &pb); ret != 0 {
		return 0, 0, errRet("create ring pair "+name, ret)
	}
	return Port(pa), Port(pb), nil
}
