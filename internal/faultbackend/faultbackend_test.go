package faultbackend

import (
	"context"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/backendtest"
	"github.com/agentvault/agentvault/backend/membackend"
)

// TestConformance: without a fault the wrapper is a conforming Backend.
func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return New(membackend.New()) })
}

// TestNthFaultBeforeAndAfter: the Nth write fails once; After writes first.
func TestNthFaultBeforeAndAfter(t *testing.T) {
	ctx := context.Background()
	b := New(membackend.New())
	b.Inject(&Fault{Nth: 2, Err: ErrNoSpace})
	_, err := b.Put(ctx, "a", []byte("1"), 0)
	require.NoError(t, err)
	_, err = b.Put(ctx, "b", []byte("1"), 0)
	assert.ErrorIs(t, err, syscall.ENOSPC)
	assert.Equal(t, "b", b.FiredKey())
	_, _, err = b.Get(ctx, "b")
	assert.ErrorIs(t, err, backend.ErrNotFound, "a failed Put before the write writes nothing")
	_, err = b.Put(ctx, "c", []byte("1"), 0)
	require.NoError(t, err, "only the 2nd write fails")

	b.Inject(&Fault{KeyPrefix: "d", Err: ErrIO, After: true})
	_, err = b.Put(ctx, "d", []byte("landed"), 0)
	assert.ErrorIs(t, err, syscall.EIO)
	b.Inject(nil)
	val, _, err := b.Get(ctx, "d")
	require.NoError(t, err)
	assert.Equal(t, "landed", string(val), "an After fault reports an error for a write that landed")
	assert.Equal(t, 4, b.Calls(OpPut))
}
