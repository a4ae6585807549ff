package onprem

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/microseg/microseg/model"
)

// ruleText renders a rule's expressions the way nft lists them, for plans people
// read: "ip saddr . meta l4proto . th dport @in4_exact accept". It knows the
// expressions microseg writes and the common ones operators add by hand; anything
// else is shown in raw form, never dropped, so two different rules never read the
// same. (Plans also carry a digest of the raw expressions; see Objects.)
func ruleText(exprs []expr.Any) string {
	var out []string
	loads := map[uint32]string{} // register -> what was loaded into it
	var order []uint32           // registers loaded and not yet compared
	family := ""
	load := func(r uint32, what string) {
		r = reg(r)
		loads[r] = what
		order = append(order, r)
	}
	consume := func(r uint32) string {
		r = reg(r)
		for i, o := range order {
			if o == r {
				order = append(order[:i], order[i+1:]...)
				break
			}
		}
		return loads[r]
	}
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Meta:
			load(e.Register, metaName(e.Key))
		case *expr.Payload:
			load(e.DestRegister, payloadName(e, family))
		case *expr.Ct:
			load(e.Register, fmt.Sprintf("ct %s", ctKeyName(e.Key)))
		case *expr.Bitwise:
			r := reg(e.SourceRegister)
			if strings.HasPrefix(loads[r], "ct state") && len(e.Mask) == 4 {
				loads[reg(e.DestRegister)] = "ct state " + ctStates(nativeEndian.Uint32(e.Mask))
				continue
			}
			out = append(out, exprText(e))
		case *expr.Cmp:
			what := consume(e.Register)
			switch {
			case what == "meta nfproto" && e.Op == expr.CmpOpEq && len(e.Data) == 1:
				family = map[byte]string{unix.NFPROTO_IPV4: "ip", unix.NFPROTO_IPV6: "ip6"}[e.Data[0]]
				out = append(out, "meta nfproto "+map[string]string{"ip": "ipv4", "ip6": "ipv6"}[family])
			case strings.HasPrefix(what, "ct state ") && e.Op == expr.CmpOpNeq && isZero(e.Data):
				out = append(out, what)
			default:
				out = append(out, fmt.Sprintf("%s %s%s", what, cmpOp(e.Op), value(what, e.Data)))
			}
		case *expr.Range:
			what := consume(e.Register)
			out = append(out, fmt.Sprintf("%s %s%s-%s", what, cmpOp(e.Op), value(what, e.FromData), value(what, e.ToData)))
		case *expr.Lookup:
			keys := make([]string, len(order))
			for i, r := range order {
				keys[i] = loads[r]
			}
			op := "@"
			if e.Invert {
				op = "!= @"
			}
			out = append(out, strings.Join(keys, " . ")+" "+op+e.SetName)
		case *expr.Counter:
			out = append(out, "counter")
		case *expr.Limit:
			out = append(out, fmt.Sprintf("limit rate %d/%s burst %d", e.Rate, map[expr.LimitTime]string{expr.LimitTimeSecond: "second", expr.LimitTimeMinute: "minute", expr.LimitTimeHour: "hour", expr.LimitTimeDay: "day"}[e.Unit], e.Burst))
		case *expr.Log:
			out = append(out, fmt.Sprintf("log prefix %q group %d", e.Data, e.Group))
		case *expr.Verdict:
			out = append(out, verdictName(e))
		default:
			out = append(out, exprText(e))
		}
	}
	return strings.Join(out, " ")
}

// ruleDigest is a short hash of a rule's raw expressions: two rules that read the
// same in ruleText but differ in a detail it does not show still differ here.
func ruleDigest(exprs []expr.Any) string {
	h := fnv.New32a()
	h.Write([]byte(exprsText(exprs)))
	return fmt.Sprintf("%08x", h.Sum32())
}

func metaName(k expr.MetaKey) string {
	switch k {
	case expr.MetaKeyNFPROTO:
		return "meta nfproto"
	case expr.MetaKeyL4PROTO:
		return "meta l4proto"
	case expr.MetaKeyIIFNAME:
		return "iifname"
	case expr.MetaKeyOIFNAME:
		return "oifname"
	}
	return fmt.Sprintf("meta key %d", k)
}

func payloadName(p *expr.Payload, family string) string {
	switch {
	case p.Base == expr.PayloadBaseNetworkHeader && p.Offset == 12 && p.Len == 4:
		return "ip saddr"
	case p.Base == expr.PayloadBaseNetworkHeader && p.Offset == 16 && p.Len == 4:
		return "ip daddr"
	case p.Base == expr.PayloadBaseNetworkHeader && p.Offset == 8 && p.Len == 16:
		return "ip6 saddr"
	case p.Base == expr.PayloadBaseNetworkHeader && p.Offset == 24 && p.Len == 16:
		return "ip6 daddr"
	case p.Base == expr.PayloadBaseTransportHeader && p.Offset == 2 && p.Len == 2:
		return "th dport"
	case p.Base == expr.PayloadBaseTransportHeader && p.Offset == 0 && p.Len == 2:
		return "th sport"
	case p.Base == expr.PayloadBaseTransportHeader && p.Offset == 0 && p.Len == 1 && family == "ip6":
		return "icmpv6 type"
	case p.Base == expr.PayloadBaseTransportHeader && p.Offset == 0 && p.Len == 1:
		return "icmp type"
	}
	return fmt.Sprintf("@%s,%d,%d", map[expr.PayloadBase]string{expr.PayloadBaseLLHeader: "ll", expr.PayloadBaseNetworkHeader: "nh", expr.PayloadBaseTransportHeader: "th"}[p.Base], p.Offset*8, p.Len*8)
}

func ctKeyName(k expr.CtKey) string {
	if k == expr.CtKeySTATE {
		return "state"
	}
	return fmt.Sprintf("key %d", k)
}

func ctStates(mask uint32) string {
	var names []string
	for _, s := range []struct {
		bit  uint32
		name string
	}{{expr.CtStateBitINVALID, "invalid"}, {expr.CtStateBitESTABLISHED, "established"}, {expr.CtStateBitRELATED, "related"}, {expr.CtStateBitNEW, "new"}, {expr.CtStateBitUNTRACKED, "untracked"}} {
		if mask&s.bit != 0 {
			names = append(names, s.name)
		}
	}
	return strings.Join(names, ",")
}

func cmpOp(op expr.CmpOp) string {
	switch op {
	case expr.CmpOpEq:
		return ""
	case expr.CmpOpNeq:
		return "!= "
	case expr.CmpOpLt:
		return "< "
	case expr.CmpOpLte:
		return "<= "
	case expr.CmpOpGt:
		return "> "
	default:
		return ">= "
	}
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// value prints compared data as the loaded field reads it.
func value(what string, data []byte) string {
	switch {
	case what == "meta l4proto" && len(data) == 1:
		return model.Protocol(data[0]).String()
	case (what == "iifname" || what == "oifname"):
		return fmt.Sprintf("%q", strings.TrimRight(string(data), "\x00"))
	case (what == "th dport" || what == "th sport") && len(data) == 2:
		return fmt.Sprint(binary.BigEndian.Uint16(data))
	case strings.HasSuffix(what, "type") && len(data) == 1:
		return fmt.Sprint(data[0])
	}
	return fmt.Sprintf("0x%x", data)
}

func verdictName(v *expr.Verdict) string {
	switch v.Kind {
	case expr.VerdictAccept:
		return "accept"
	case expr.VerdictDrop:
		return "drop"
	case expr.VerdictReturn:
		return "return"
	case expr.VerdictJump:
		return "jump " + v.Chain
	case expr.VerdictGoto:
		return "goto " + v.Chain
	}
	return fmt.Sprintf("verdict %d", v.Kind)
}
