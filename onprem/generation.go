package onprem

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// generation returns the namespace's nftables ruleset generation: a counter the kernel
// bumps on every committed change, by anyone. An enforcer that knows the generation its
// own last transaction produced knows whether the table still holds exactly what it
// wrote, without reading 100,000 elements back. (google/nftables has no call for
// NFT_MSG_GETGEN, so it is sent here.)
func (e *Enforcer) generation() (uint32, error) {
	cfg := &netlink.Config{}
	if e.netnsName != "" {
		h, err := netns.GetFromName(e.netnsName)
		if err != nil {
			return 0, fmt.Errorf("open network namespace %s: %w", e.netnsName, err)
		}
		defer h.Close()
		cfg.NetNS = int(h)
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return 0, fmt.Errorf("read ruleset generation: %w", err)
	}
	defer c.Close()
	req := netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN),
			Flags: netlink.Request | netlink.Acknowledge,
		},
		Data: []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0}, // struct nfgenmsg
	}
	msgs, err := c.Execute(req)
	if err != nil {
		return 0, fmt.Errorf("read ruleset generation: %w", err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, fmt.Errorf("read ruleset generation: %w", err)
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), nil
			}
		}
	}
	return 0, fmt.Errorf("read ruleset generation: no generation in the kernel's answer")
}
