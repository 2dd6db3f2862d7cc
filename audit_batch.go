package agentvault

import (
	"context"
	"fmt"
	"slices"
)

// Many events of one operation at once (ImportEnv: a batch's write-ahead
// events, then its outcome events). They join the group commit like
// emit's single events: they go into the pending batch together and in
// order, so the leader seals them onto the chain one after the other and
// stores them with the rest of the batch (one Append on a
// backend.Appender; one Put each otherwise).

// emitMany appends events to the audit trail, in order, and returns once
// all of them are written, with one error per event (nil: that event is
// durable). When auditing is off every error is nil. On a backend.Appender
// the events are stored by one Append, so they fail or succeed together;
// on a backend without logs each is one Put and fails alone.
func (v *AgentVault) emitMany(ctx context.Context, events []*AuditEvent) []error {
	errs := make([]error, len(events))
	if len(events) == 0 || !v.auditing(ctx) || !v.gate.enterNested() {
		return errs // closed, and called outside any operation
	}
	defer v.gate.leave()
	now, via := v.opts.now().UTC(), viaFromContext(ctx)
	for _, e := range events {
		e.scrub()
		e.Time, e.Via = now, via
	}
	if err := ctx.Err(); err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("%w: %w", ErrAuditFailed, err)
		}
		return errs
	}
	// As in emit: the batch may be written by another operation's call.
	wctx := ctx
	if ctx.Done() != nil {
		wctx = context.WithoutCancel(ctx)
	}
	return v.opts.access.st.audit.submitMany(events, func(batch []*AuditEvent, reads []*auditRead) []error {
		return v.flushAudit(wctx, batch, reads)
	})
}

// submitMany is submit (audit_log.go) for several events: they join the
// pending batch as one contiguous run, and it returns their errors once
// that batch is written, leading the write when no other is in progress.
func (st *auditWriterState) submitMany(events []*AuditEvent, flush auditFlush) []error {
	st.mu.Lock()
	if !st.flushing && st.pending == nil {
		// Nothing in flight: write the events alone.
		st.flushing = true
		st.mu.Unlock()
		errs := slices.Clone(flush(events, nil)) // flush's slice is reused by the next batch
		st.handOff()
		return errs
	}
	b := st.pendingBatch()
	i, n := len(b.events), len(events)
	b.events = append(b.events, events...)
	if b.reads != nil { // keep one read (none) per event
		b.reads = append(b.reads, make([]*auditRead, n)...)
	}
	return slices.Clone(st.await(b, flush)[i : i+n])
}
