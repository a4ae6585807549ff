package onprem

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/microseg/microseg/model"
)

// FlowSpooler keeps what a host's NFLOG group logs in its flow spool, flushed every
// second, for audits to read. It follows the group of the policy the agent is asked
// to enforce (Listen), which may differ from the one it started on.
type FlowSpooler struct {
	cfg   FlowLogConfig
	spool *FlowSpool
	log   func(msg string)

	mu     sync.Mutex
	reader *FlowLogReader
	cancel context.CancelFunc
	done   chan struct{}
}

// NewFlowSpooler opens the spool in dir and starts reading cfg's NFLOG group into
// it. log receives what an operator should see (a group that cannot be read).
func NewFlowSpooler(cfg FlowLogConfig, dir string, log func(msg string)) (*FlowSpooler, error) {
	sp, err := OpenFlowSpool(dir, 0)
	if err != nil {
		return nil, err
	}
	s := &FlowSpooler{cfg: cfg, spool: sp, log: log}
	if err := s.open(cfg.Group); err != nil {
		sp.Close()
		return nil, err
	}
	return s, nil
}

// open starts reading group (the lock is held, or s is new).
func (s *FlowSpooler) open(group uint16) error {
	cfg := s.cfg
	cfg.Group = group
	r, err := OpenFlowLog(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		flush := time.NewTicker(time.Second)
		defer flush.Stop()
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-flush.C:
					s.spool.Flush()
				}
			}
		}()
		_ = r.Run(ctx, func(rec model.FlowRecord) { _ = s.spool.Write(rec) })
	}()
	s.cfg.Group, s.reader, s.cancel, s.done = group, r, cancel, done
	return nil
}

func (s *FlowSpooler) close() {
	s.cancel()
	s.reader.Close()
	<-s.done
}

// Listen moves the spool to group when the policy logs elsewhere; when that group
// cannot be read, it stays on the one it has.
func (s *FlowSpooler) Listen(group uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if group == s.cfg.Group {
		return
	}
	old := s.cfg.Group
	s.close()
	if err := s.open(group); err != nil {
		s.log(fmt.Sprintf("warning: cannot read NFLOG group %d (the policy's), staying on %d: %v", group, old, err))
		if err := s.open(old); err != nil {
			s.log(fmt.Sprintf("warning: no flow spool any more: %v", err))
		}
		return
	}
	s.log(fmt.Sprintf("flow spool now reads NFLOG group %d, as the policy logs", group))
}

// Stop ends reading and closes the spool.
func (s *FlowSpooler) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.close()
	s.spool.Close()
}
