package onprem

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	nflog "github.com/florianl/go-nflog/v2"
	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"

	"github.com/microseg/microseg/model"
)

// NFLOG prefixes of the log rule that ends each filter chain. The prefix is how a
// FlowLogReader tells microseg's log messages from anyone else's sharing the group,
// and how it learns the action, so the renderer and the reader must agree on them to
// the byte: use LogPrefix rather than spelling them out. The trailing space keeps the
// kernel's log lines readable when the same prefix goes to the syslog target.
const (
	LogPrefixDropIn       = "microseg drop in "
	LogPrefixDropOut      = "microseg drop out "
	LogPrefixWouldDropIn  = "microseg would-drop in "
	LogPrefixWouldDropOut = "microseg would-drop out "
)

// LogPrefix returns the NFLOG prefix for packets a chain drops (model.FlowDrop) or
// would drop in audit mode (model.FlowWouldDrop), in direction "in" (the input chain)
// or "out" (the output chain).
//
// Any other action or direction is a bug in the caller, and LogPrefix panics: a rule
// rendered with a wrong prefix would have its log messages skipped by every reader
// without anyone noticing.
func LogPrefix(action model.FlowAction, direction string) string {
	switch {
	case action == model.FlowDrop && direction == "in":
		return LogPrefixDropIn
	case action == model.FlowDrop && direction == "out":
		return LogPrefixDropOut
	case action == model.FlowWouldDrop && direction == "in":
		return LogPrefixWouldDropIn
	case action == model.FlowWouldDrop && direction == "out":
		return LogPrefixWouldDropOut
	}
	panic(fmt.Sprintf("onprem.LogPrefix: no log prefix for action %v in direction %q", action, direction))
}

// nflogPrefixAction is the inverse of LogPrefix for the reader: the action a log
// message's prefix stands for, and false for prefixes microseg did not write.
func nflogPrefixAction(prefix string) (model.FlowAction, bool) {
	switch prefix {
	case LogPrefixDropIn, LogPrefixDropOut:
		return model.FlowDrop, true
	case LogPrefixWouldDropIn, LogPrefixWouldDropOut:
		return model.FlowWouldDrop, true
	}
	return 0, false
}

// nflogCopyRange is how many bytes of each logged packet the kernel copies to us. The
// reader needs the network header and the first bytes of the transport header only:
// an IPv4 header is at most 60 bytes, an IPv6 header 40, and the ports or the ICMP type
// sit in the first 4 bytes after it. Copying whole packets would cost netlink buffer
// space for nothing (a locally sent GSO packet can be 64 KiB) and lose messages sooner
// under load. The packet's length still comes from its IP header.
const nflogCopyRange = 128

// nflogRecordBuffer is how many parsed records wait between the netlink receive loop
// and Run. Beyond it the receive loop stops reading, the socket buffer fills, and the
// kernel drops messages, which Lost counts.
const nflogRecordBuffer = 256

// FlowLogConfig says which NFLOG group a FlowLogReader reads and how it labels the
// records.
type FlowLogConfig struct {
	// Group is the NFLOG group the log rules send to (log group N in nft).
	Group uint16
	// NetNS is the name of a network namespace as created by `ip netns add` (a file in
	// /run/netns) whose NFLOG group to read; "" reads the caller's own namespace. NFLOG
	// groups are per namespace, so the reader must sit where the rules are.
	NetNS string
	// Target and Host are copied into every record's Target and Reporter.
	Target, Host string
}

// FlowLogReader turns the NFLOG messages of microseg's log rules into model.FlowRecords:
// one record per logged packet, with Packets 1 and Bytes the packet's IP length.
// Messages with another prefix in the same group are skipped and counted, as are
// packets that cannot be parsed; neither stops the reader.
//
// Open one with OpenFlowLog, read with Run, and Close it when done. Its methods are
// safe for concurrent use.
type FlowLogReader struct {
	cfg FlowLogConfig
	nf  *nflog.Nflog

	// cancel stops go-nflog's receive loop; done tells the hook and Run that Close ran.
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	// records carries parsed records from the receive loop to Run.
	records chan model.FlowRecord

	// failed is closed once the receive loop has stopped on an error it cannot
	// continue after; err holds that error.
	failed   chan struct{}
	failOnce sync.Once
	err      error

	skipped, malformed, lost atomic.Uint64
}

// OpenFlowLog opens an NFLOG socket for cfg.Group in cfg.NetNS and starts receiving.
// Binding to the group happens here, so an error about permissions (it needs
// CAP_NET_ADMIN in the namespace) or a group another process already holds is
// reported by OpenFlowLog rather than later by Run. Messages received before Run is
// called wait in a small buffer, then in the socket.
func OpenFlowLog(cfg FlowLogConfig) (*FlowLogReader, error) {
	nfcfg := nflog.Config{
		Group:    cfg.Group,
		Copymode: nflog.CopyPacket,
		Bufsize:  nflogCopyRange,
		// Timeout and QThresh stay 0 so the kernel's defaults apply: a batch is sent
		// after 100 messages or one second, whichever comes first. Flow logs can wait a
		// second; fewer, larger netlink messages keep up better under a drop storm.
	}
	where := "the current netns"
	if cfg.NetNS != "" {
		where = "netns " + cfg.NetNS
		// go-nflog (through mdlayher/socket) creates the socket on a locked OS thread
		// switched into this namespace and switches back, so the rest of the process
		// stays where it is. A socket belongs to the namespace it was created in for
		// its whole life, so the handle is not needed after Open.
		ns, err := netns.GetFromName(cfg.NetNS)
		if err != nil {
			return nil, fmt.Errorf("open nflog group %d in %s: %w", cfg.Group, where, err)
		}
		defer ns.Close()
		nfcfg.NetNS = int(ns)
	}
	nf, err := nflog.Open(&nfcfg)
	if err != nil {
		return nil, fmt.Errorf("open nflog group %d in %s: %w", cfg.Group, where, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	r := &FlowLogReader{
		cfg:     cfg,
		nf:      nf,
		cancel:  cancel,
		done:    make(chan struct{}),
		records: make(chan model.FlowRecord, nflogRecordBuffer),
		failed:  make(chan struct{}),
	}
	if err := nf.RegisterWithErrorFunc(ctx, r.hook, r.onError); err != nil {
		cancel()
		_ = nf.Close()
		return nil, fmt.Errorf("bind nflog group %d in %s: %w", cfg.Group, where, err)
	}
	return r, nil
}

// Run calls fn with each record, in the order the kernel logged them, until ctx is
// done (Run then returns nil), the reader is closed, or receiving fails for good.
// fn runs on Run's goroutine and is never called after Run returns; a slow fn holds up
// reading, and what the kernel cannot buffer meanwhile is lost (see Lost).
//
// Run may be called again after it returns, to go on reading. Concurrent calls share
// the stream: each record goes to one of them.
func (r *FlowLogReader) Run(ctx context.Context, fn func(model.FlowRecord)) error {
	for {
		// Checked first so that a cancelled ctx stops Run even while records keep
		// arriving; select alone picks among ready cases at random.
		if ctx.Err() != nil {
			return nil
		}
		select {
		case rec := <-r.records:
			fn(rec)
		case <-ctx.Done():
			return nil
		case <-r.done:
			return fmt.Errorf("read nflog group %d: %w", r.cfg.Group, net.ErrClosed)
		case <-r.failed:
			// The receive loop has stopped, so nothing more is coming: hand over what
			// it had already parsed before reporting why it stopped.
			for {
				select {
				case rec := <-r.records:
					fn(rec)
				default:
					return fmt.Errorf("read nflog group %d: %w", r.cfg.Group, r.err)
				}
			}
		}
	}
}

// Close stops receiving and closes the netlink socket. A Run in progress returns an
// error wrapping net.ErrClosed. Closing twice is harmless.
func (r *FlowLogReader) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		close(r.done)
		// Close the socket itself rather than calling r.nf.Close: that also waits on a
		// WaitGroup which go-nflog v2.3.0's receive goroutine adds to only once it has
		// started, a data race when Close follows OpenFlowLog closely. Nothing we need
		// is behind that wait: the closed socket ends the receive loop either way.
		if err := r.nf.Con.Close(); err != nil {
			r.closeErr = fmt.Errorf("close nflog group %d: %w", r.cfg.Group, err)
		}
	})
	return r.closeErr
}

// Skipped is how many messages in the group did not carry one of microseg's prefixes
// (see LogPrefix) and were therefore not turned into records.
func (r *FlowLogReader) Skipped() uint64 { return r.skipped.Load() }

// Malformed is how many of microseg's messages carried no packet or one that could not
// be parsed as IPv4 or IPv6.
func (r *FlowLogReader) Malformed() uint64 { return r.malformed.Load() }

// Lost is how many times the kernel reported that the socket's buffer overflowed
// (ENOBUFS). Each time, one or more messages were dropped before reaching the reader;
// the kernel does not say how many.
func (r *FlowLogReader) Lost() uint64 { return r.lost.Load() }

// hook receives each message from go-nflog's receive loop. It returns non-zero to stop
// that loop, which it does only once the reader is closed.
func (r *FlowLogReader) hook(a nflog.Attribute) int {
	rec, ok := r.record(a)
	if !ok {
		return 0
	}
	select {
	case r.records <- rec:
		return 0
	case <-r.done:
		return 1
	}
}

// record turns one NFLOG message into a record, counting it as skipped or malformed
// when it does not make one.
func (r *FlowLogReader) record(a nflog.Attribute) (model.FlowRecord, bool) {
	if a.Prefix == nil {
		r.skipped.Add(1)
		return model.FlowRecord{}, false
	}
	action, ok := nflogPrefixAction(*a.Prefix)
	if !ok {
		r.skipped.Add(1)
		return model.FlowRecord{}, false
	}
	if a.Payload == nil {
		r.malformed.Add(1)
		return model.FlowRecord{}, false
	}
	rec, err := parseLoggedPacket(*a.Payload)
	if err != nil {
		r.malformed.Add(1)
		return model.FlowRecord{}, false
	}
	rec.Action = action
	rec.Target = r.cfg.Target
	rec.Reporter = r.cfg.Host
	// The kernel sends a timestamp only when the packet carries one (received packets
	// usually do, locally generated ones often do not).
	if a.Timestamp != nil && !a.Timestamp.IsZero() {
		rec.Time = *a.Timestamp
	} else {
		rec.Time = time.Now()
	}
	return rec, true
}

// onError decides, for go-nflog's receive loop, which receive errors to carry on
// after (0) and which end it (non-zero).
func (r *FlowLogReader) onError(err error) int {
	select {
	case <-r.done:
		// Close expired the read deadline or closed the socket on purpose.
		return 1
	default:
	}
	if errors.Is(err, syscall.ENOBUFS) {
		// The kernel outran us and dropped messages; the socket itself is fine.
		r.lost.Add(1)
		return 0
	}
	var opErr *netlink.OpError
	if errors.As(err, &opErr) && (opErr.Timeout() || opErr.Temporary()) {
		return 0
	}
	r.failOnce.Do(func() {
		r.err = err
		close(r.failed)
	})
	return 1
}

// errLoggedPacket is wrapped by every error of parseLoggedPacket.
var errLoggedPacket = errors.New("malformed logged packet")

// parseLoggedPacket reads a packet as NFLOG delivers it for the inet, ip and ip6
// families: starting at the network header, possibly cut short by the copy range.
// It fills Src, Dst, Protocol, the ports, Bytes (the length the IP header gives) and
// Packets (1); the caller adds Time, Action, Target and Reporter.
//
// Ports are those of TCP, UDP and SCTP; for ICMP and ICMPv6, DstPort is the message
// type. They stay 0 for other protocols, for IPv4 fragments after the first (which
// carry no transport header), and for IPv6 packets whose first next header is an
// extension header: those are not followed, and Protocol is then the extension
// header's number.
//
// It never panics, whatever the input: logged packets are whatever arrived on the wire.
func parseLoggedPacket(payload []byte) (model.FlowRecord, error) {
	if len(payload) == 0 {
		return model.FlowRecord{}, fmt.Errorf("%w: empty", errLoggedPacket)
	}
	switch v := payload[0] >> 4; v {
	case 4:
		return parseLoggedIPv4(payload)
	case 6:
		return parseLoggedIPv6(payload)
	default:
		return model.FlowRecord{}, fmt.Errorf("%w: IP version %d", errLoggedPacket, v)
	}
}

func parseLoggedIPv4(p []byte) (model.FlowRecord, error) {
	const minHeader = 20
	if len(p) < minHeader {
		return model.FlowRecord{}, fmt.Errorf("%w: IPv4 header truncated to %d bytes", errLoggedPacket, len(p))
	}
	ihl := int(p[0]&0x0f) * 4
	if ihl < minHeader {
		return model.FlowRecord{}, fmt.Errorf("%w: IPv4 header length %d", errLoggedPacket, ihl)
	}
	if len(p) < ihl {
		return model.FlowRecord{}, fmt.Errorf("%w: IPv4 header of %d bytes truncated to %d", errLoggedPacket, ihl, len(p))
	}
	totalLen := int(binary.BigEndian.Uint16(p[2:4]))
	length := uint64(totalLen)
	switch {
	case totalLen == 0:
		// A locally sent TSO/BIG TCP packet can be logged before segmentation with a
		// total length of 0, meaning "larger than the field holds". What was copied is
		// the best lower bound we have.
		length = uint64(len(p))
	case totalLen < ihl:
		return model.FlowRecord{}, fmt.Errorf("%w: IPv4 total length %d shorter than its header (%d)", errLoggedPacket, totalLen, ihl)
	}
	rec := model.FlowRecord{
		Src:      netip.AddrFrom4([4]byte(p[12:16])),
		Dst:      netip.AddrFrom4([4]byte(p[16:20])),
		Protocol: model.Protocol(p[9]),
		Bytes:    length,
		Packets:  1,
	}
	if fragOffset := binary.BigEndian.Uint16(p[6:8]) & 0x1fff; fragOffset != 0 {
		return rec, nil
	}
	transport := p[ihl:]
	if totalLen != 0 && totalLen < len(p) {
		// Ignore anything copied past the end of the IP packet.
		transport = p[ihl:totalLen]
	}
	if err := parseLoggedTransport(&rec, transport); err != nil {
		return model.FlowRecord{}, err
	}
	return rec, nil
}

func parseLoggedIPv6(p []byte) (model.FlowRecord, error) {
	const header = 40
	if len(p) < header {
		return model.FlowRecord{}, fmt.Errorf("%w: IPv6 header truncated to %d bytes", errLoggedPacket, len(p))
	}
	payloadLen := int(binary.BigEndian.Uint16(p[4:6]))
	length := uint64(header + payloadLen)
	if payloadLen == 0 {
		// A jumbogram or a BIG TCP packet logged before segmentation: the length is
		// not in the fixed header. What was copied is the best lower bound we have.
		length = uint64(len(p))
	}
	rec := model.FlowRecord{
		Src:      netip.AddrFrom16([16]byte(p[8:24])),
		Dst:      netip.AddrFrom16([16]byte(p[24:40])),
		Protocol: model.Protocol(p[6]),
		Bytes:    length,
		Packets:  1,
	}
	transport := p[header:]
	if payloadLen != 0 && header+payloadLen < len(p) {
		transport = p[header : header+payloadLen]
	}
	if err := parseLoggedTransport(&rec, transport); err != nil {
		return model.FlowRecord{}, err
	}
	return rec, nil
}

// parseLoggedTransport fills rec's ports from the transport header t of protocol
// rec.Protocol. Protocols it does not know keep ports 0.
func parseLoggedTransport(rec *model.FlowRecord, t []byte) error {
	switch rec.Protocol {
	case model.ProtocolTCP, model.ProtocolUDP, model.ProtocolSCTP:
		// All three start with the source port and then the destination port.
		if len(t) < 4 {
			return fmt.Errorf("%w: %v header truncated to %d bytes", errLoggedPacket, rec.Protocol, len(t))
		}
		rec.SrcPort = binary.BigEndian.Uint16(t[0:2])
		rec.DstPort = binary.BigEndian.Uint16(t[2:4])
	case model.ProtocolICMP, model.ProtocolICMPv6:
		if len(t) < 1 {
			return fmt.Errorf("%w: %v header truncated to %d bytes", errLoggedPacket, rec.Protocol, len(t))
		}
		rec.DstPort = uint16(t[0])
	}
	return nil
}
