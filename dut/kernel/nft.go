package kernel

import (
	"bytes"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// TableName is the nftables table (family inet) the kernel datapath owns.
const TableName = "dutlab"

// counterTag marks the rule that counts frames from In in the forward chain,
// so later policy rules in the same chain do not confuse readCounter.
var counterTag = []byte("dutlab:in-counter")

var (
	table        = &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
	accept       = nftables.ChainPolicyAccept
	forwardChain = &nftables.Chain{
		Name:     "forward",
		Table:    table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookForward,
		Priority: nftables.ChainPriorityFilter,
		Policy:   &accept,
	}
)

// createTable creates table inet dutlab with a forward chain (policy accept)
// whose one rule counts packets arriving on inName. It refuses to reuse a
// table that already exists (left over from a run that was killed; `dutlab
// down` removes it). created says whether the table exists afterwards and
// so must be deleted, even when err is set.
func createTable(c *nftables.Conn, inName string) (created bool, err error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("list nftables tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == TableName {
			return false, fmt.Errorf("nftables table inet %s already exists (left over from an earlier run?)", TableName)
		}
	}
	c.AddTable(table)
	if err := c.Flush(); err != nil {
		return false, fmt.Errorf("create nftables table inet %s: %w", TableName, err)
	}
	c.AddChain(forwardChain)
	c.AddRule(&nftables.Rule{
		Table: table,
		Chain: forwardChain,
		Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(inName)},
			&expr.Counter{},
		},
		UserData: counterTag,
	})
	if err := c.Flush(); err != nil {
		return true, fmt.Errorf("add forward chain to inet %s: %w", TableName, err)
	}
	return true, nil
}

func deleteTable(c *nftables.Conn) error {
	c.DelTable(table)
	return c.Flush()
}

// readCounter returns the packets counted by the In counter rule.
func readCounter(c *nftables.Conn) (uint64, error) {
	rules, err := c.GetRules(table, forwardChain)
	if err != nil {
		return 0, fmt.Errorf("read nftables rules: %w", err)
	}
	for _, r := range rules {
		if !bytes.Equal(r.UserData, counterTag) {
			continue
		}
		for _, e := range r.Exprs {
			if ctr, ok := e.(*expr.Counter); ok {
				return ctr.Packets, nil
			}
		}
	}
	return 0, fmt.Errorf("no counter rule in inet %s forward", TableName)
}

// ifname is an interface name as nftables compares it: NUL-padded to IFNAMSIZ.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}
