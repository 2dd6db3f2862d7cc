package agentvault

import (
	"sync"
	"sync/atomic"
)

// gate counts the operations in flight, so that Close can wait for them
// before it wipes the keys they use: an operation admitted by enter never
// sees a wiped key, and none is admitted once Close has begun. Entries
// nest (a Session's call runs the vault's method inside its own entry).
type gate struct {
	state   atomic.Int64 // operations in flight, plus gateClosed once Close has begun
	once    sync.Once
	drained chan struct{} // closed when Close has begun and nothing is in flight
}

const gateClosed = int64(1) << 62

func newGate() *gate { return &gate{drained: make(chan struct{})} }

// enter admits an operation and reports whether it was admitted; an
// admitted operation must call leave when it no longer uses the vault's
// keys or caches.
func (g *gate) enter() bool {
	if g.state.Add(1)&gateClosed != 0 {
		g.leave()
		return false
	}
	return true
}

// enterNested admits a step of an operation already admitted (an audit
// event written on its way out), even once Close has begun: while any
// operation is in flight Close has not wiped anything, and this entry
// keeps it so. It refuses only when nothing is in flight after Close.
func (g *gate) enterNested() bool {
	if n := g.state.Add(1); n&gateClosed != 0 && n&^gateClosed == 1 {
		g.leave()
		return false
	}
	return true
}

func (g *gate) leave() {
	if g.state.Add(-1) == gateClosed {
		g.once.Do(func() { close(g.drained) })
	}
}

// shut refuses new operations and waits until those in flight have left.
func (g *gate) shut() {
	if g.state.Or(gateClosed) == 0 {
		g.once.Do(func() { close(g.drained) })
	}
	<-g.drained
}

// enter admits an operation on v (see gate), or fails with ErrClosed. The
// caller defers v.leave() when it succeeds.
func (v *AgentVault) enter() error {
	if !v.gate.enter() {
		return ErrClosed
	}
	return nil
}

func (v *AgentVault) leave() { v.gate.leave() }
