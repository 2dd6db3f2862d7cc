package membackend_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/backendtest"
	"github.com/agentvault/agentvault/backend/membackend"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(*testing.T) backend.Backend { return membackend.New() })
}

func TestZeroValue(t *testing.T) {
	backendtest.Run(t, func(*testing.T) backend.Backend { return new(membackend.Backend) })
}

func TestAppenderConformance(t *testing.T) {
	backendtest.RunAppender(t, func(*testing.T) backend.Backend { return membackend.New() })
}

func TestAppenderZeroValue(t *testing.T) {
	backendtest.RunAppender(t, func(*testing.T) backend.Backend { return new(membackend.Backend) })
}

// The log keeps copies: a caller reusing its buffers after Append, or
// writing into what Last and ReadLog returned, changes nothing stored.
func TestAppendStoresCopies(t *testing.T) {
	ctx := context.Background()
	b := membackend.New()
	buf := []byte("first")
	require.NoError(t, b.Append(ctx, "audit.w", nil, [][]byte{buf}))
	copy(buf, "XXXXX")
	last, err := b.Last(ctx, "audit.w")
	require.NoError(t, err)
	assert.Equal(t, "first", string(last))
	copy(last, "YYYYY")
	all, err := b.ReadLog(ctx, "audit.w")
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("first")}, all)
	all[0][0] = 'Z'
	last, err = b.Last(ctx, "audit.w")
	require.NoError(t, err)
	assert.Equal(t, "first", string(last), "stored record changed through a returned slice")
	require.NoError(t, b.Append(ctx, "audit.w", []byte("first"), [][]byte{[]byte("second")}))
}

// Records larger than a block, many records across blocks, and records
// written after a read all come back whole and in order.
func TestAppendAcrossBlocks(t *testing.T) {
	ctx := context.Background()
	b := membackend.New()
	var want [][]byte
	var last []byte
	for i := range 300 {
		n := 1 + i*997%5000
		if i%100 == 7 {
			n = 200 << 10 // bigger than a block
		}
		r := bytes.Repeat([]byte{'a' + byte(i%26)}, n)
		require.NoError(t, b.Append(ctx, "audit.big", last, [][]byte{r}))
		want, last = append(want, r), r
	}
	got, err := b.ReadLog(ctx, "audit.big")
	require.NoError(t, err)
	require.Equal(t, len(want), len(got))
	for i := range want {
		require.Equal(t, want[i], got[i], "record %d", i)
	}
}

func TestReplaceLog(t *testing.T) {
	ctx := context.Background()
	b := membackend.New()
	require.NoError(t, b.Append(ctx, "audit.w", nil, [][]byte{[]byte("a"), []byte("b")}))
	require.NoError(t, b.ReplaceLog(ctx, "audit.w", [][]byte{[]byte("b"), []byte("a")}))
	all, err := b.ReadLog(ctx, "audit.w")
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("b"), []byte("a")}, all)
	assert.ErrorIs(t, b.ReplaceLog(ctx, "audit.w", [][]byte{[]byte("x\ny")}), backend.ErrInvalidRecord)
	require.NoError(t, b.ReplaceLog(ctx, "audit.w", nil))
	names, err := b.Logs(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, names)
	require.NoError(t, b.Close())
	assert.ErrorIs(t, b.Append(ctx, "audit.w", nil, [][]byte{[]byte("a")}), backend.ErrClosed)
}
