package filebackend_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/backendtest"
	"github.com/agentvault/agentvault/backend/filebackend"
)

func TestAppenderConformance(t *testing.T) {
	backendtest.RunAppender(t, func(t *testing.T) backend.Backend {
		b, err := filebackend.Open(t.TempDir())
		require.NoError(t, err)
		return b
	})
}

// TestAppendTornTail: a line left without its newline by a crash mid-write
// was never acknowledged: readers skip it and the next Append replaces it.
func TestAppendTornTail(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := filebackend.Open(dir)
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, b.Append(ctx, "audit.w", nil, [][]byte{[]byte("one")}))
	segs, err := filepath.Glob(filepath.Join(dir, ".logs", "*", "*.log"))
	require.NoError(t, err)
	require.Len(t, segs, 1)
	f, err := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"torn`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	last, err := b.Last(ctx, "audit.w")
	require.NoError(t, err)
	assert.Equal(t, "one", string(last), "Last skips the torn line")
	require.NoError(t, b.Append(ctx, "audit.w", last, [][]byte{[]byte("two")}))
	all, err := b.ReadLog(ctx, "audit.w")
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("one"), []byte("two")}, all)
	raw, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	assert.Equal(t, "one\ntwo\n", string(raw), "the torn line was cut off")
}

// TestLastIsBounded: Last finds a long log's last record, also one longer
// than the first chunk read from the end.
func TestLastIsBounded(t *testing.T) {
	ctx := context.Background()
	b, err := filebackend.Open(t.TempDir())
	require.NoError(t, err)
	defer b.Close()
	var last []byte
	for i := range 50 {
		rec := make([]byte, 100*(i+1))
		for j := range rec {
			rec[j] = 'a' + byte(i%26)
		}
		require.NoError(t, b.Append(ctx, "audit.w", last, [][]byte{rec}))
		last = rec
	}
	got, err := b.Last(ctx, "audit.w")
	require.NoError(t, err)
	assert.Equal(t, last, got)
}
