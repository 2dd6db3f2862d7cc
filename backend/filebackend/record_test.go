package filebackend

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRecordVector pins the file format: this record must keep decoding.
// Its CRC-32C was computed independently of this package.
func TestRecordVector(t *testing.T) {
	const vector = "415646494c450001" + // magic "AVFILE\x00\x01"
		"0102030405060708" + // revision
		"0000000000000005" + // value length
		"46d91075" + // CRC-32C
		"68656c6c6f" // "hello"
	data, err := hex.DecodeString(vector)
	require.NoError(t, err)
	value, rev, err := decodeRecord(data)
	require.NoError(t, err, "decodeRecord(vector)")
	assert.Equal(t, "hello", string(value), "decodeRecord(vector) value")
	assert.Equal(t, int64(0x0102030405060708), rev, "decodeRecord(vector) rev")

	got := append(appendHeader(nil, rev, value), value...)
	assert.Equal(t, data, got, "appendHeader(%#x, %q)", rev, value)
}

func TestDecodeRecordRejects(t *testing.T) {
	const secret = "s3cr3t"
	valid := append(appendHeader(nil, 7, []byte(secret)), secret...)
	mutate := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), valid...))
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short header", valid[:headerSize-1]},
		{"header only", valid[:headerSize]},
		{"truncated value", valid[:len(valid)-1]},
		{"trailing byte", append(append([]byte(nil), valid...), 0)},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"future version", mutate(func(b []byte) []byte { b[7] = 2; return b })},
		{"zero revision", append(appendHeader(nil, 0, nil), nil...)},
		{"negative revision", append(appendHeader(nil, -5, []byte("v")), 'v')},
		{"flipped revision bit", mutate(func(b []byte) []byte { b[15] ^= 1; return b })},
		{"flipped value bit", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b })},
		{"flipped checksum bit", mutate(func(b []byte) []byte { b[24] ^= 1; return b })},
		{"huge length", mutate(func(b []byte) []byte { b[16] = 0xff; return b })},
		{"foreign file", []byte("plaintext " + secret + " in a file that is not a record")},
	}
	for _, tt := range tests {
		_, _, err := decodeRecord(tt.data)
		assert.ErrorIs(t, err, ErrCorrupt, "decodeRecord(%s) err = %v, want ErrCorrupt", tt.name, err)
		if err != nil {
			assert.NotContains(t, err.Error(), secret, "decodeRecord(%s) error shows file contents", tt.name)
		}
	}
}

func TestDecodeRecordEmptyValue(t *testing.T) {
	value, rev, err := decodeRecord(appendHeader(nil, 1, nil))
	require.NoError(t, err, "decodeRecord(empty value)")
	assert.NotNil(t, value, "decodeRecord(empty value) value")
	assert.Empty(t, value, "decodeRecord(empty value) value")
	assert.Equal(t, int64(1), rev, "decodeRecord(empty value) rev")
}

// FuzzDecodeRecord checks that decoding never panics and that whatever
// decodes re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(append(appendHeader(nil, 1, []byte("hello")), "hello"...))
	f.Add(appendHeader(nil, 1<<62, nil))
	f.Add([]byte(recordMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		value, rev, err := decodeRecord(data)
		if err != nil {
			return
		}
		if rev <= 0 {
			t.Fatalf("decodeRecord(%x) rev = %d", data, rev)
		}
		if got := append(appendHeader(nil, rev, value), value...); string(got) != string(data) {
			t.Fatalf("re-encoded %x, want %x", got, data)
		}
	})
}
