// Package lab brings a topologies.Spec up on this host and takes it down
// again: network namespaces, veth pairs, host ports moved into nodes,
// addresses, static neighbours, threaded NAPI pinned to each node's cores.
//
// It is the only code in dutlab that changes the host's network. Everything
// it creates carries the lab's prefix ("dl-<lab>-") and is recorded in a state
// file under StateDir before it is created, so Down removes it all even after
// the process that called Up was killed.
package lab
