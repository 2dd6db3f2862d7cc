package filebackend

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/agentvault/agentvault/backend"
)

// Every key's file holds one record:
//
//	offset  size  field
//	0       8     magic "AVFILE\x00\x01" (the last byte is the format version)
//	8       8     revision, big-endian int64, > 0
//	16      8     value length, big-endian uint64 (= file size - 28)
//	24      4     CRC-32C of bytes 8..23 followed by the value, big-endian
//	28      n     value
//
// The format is frozen: TestRecordVector holds a file that must keep
// decoding.
const (
	recordMagic = "AVFILE\x00\x01"
	headerSize  = 28
)

// ErrCorrupt is returned (wrapped) by Get, Put and Delete when a key's file
// is not a well-formed record: truncated, of another format, or failing its
// checksum. Such a file is never overwritten by Put; Delete with
// expectedRev 0 removes it. errors.Is(ErrCorrupt, backend.ErrCorrupt) holds.
var ErrCorrupt error = corruptError{}

type corruptError struct{}

func (corruptError) Error() string { return "filebackend: corrupt file" }

// Is makes every ErrCorrupt also a backend.ErrCorrupt.
func (corruptError) Is(target error) bool { return target == backend.ErrCorrupt }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendHeader appends the header of a record for value at rev to dst.
func appendHeader(dst []byte, rev int64, value []byte) []byte {
	var h [headerSize]byte
	copy(h[:], recordMagic)
	binary.BigEndian.PutUint64(h[8:], uint64(rev))
	binary.BigEndian.PutUint64(h[16:], uint64(len(value)))
	sum := crc32.Update(crc32.Checksum(h[8:24], castagnoli), castagnoli, value)
	binary.BigEndian.PutUint32(h[24:], sum)
	return append(dst, h[:]...)
}

// parseHeader checks the header h (at least headerSize bytes) of a file
// of size bytes and returns the record's revision.
func parseHeader(h []byte, size int64) (int64, error) {
	if size < headerSize || len(h) < headerSize {
		return 0, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrCorrupt, size, headerSize)
	}
	if string(h[:8]) != recordMagic {
		return 0, fmt.Errorf("%w: not a filebackend record (bad magic)", ErrCorrupt)
	}
	rev := int64(binary.BigEndian.Uint64(h[8:]))
	if rev <= 0 {
		return 0, fmt.Errorf("%w: revision %d", ErrCorrupt, rev)
	}
	if n := binary.BigEndian.Uint64(h[16:]); n != uint64(size-headerSize) {
		return 0, fmt.Errorf("%w: header gives a %d-byte value, file holds %d bytes", ErrCorrupt, n, size-headerSize)
	}
	return rev, nil
}

// decodeRecord returns the value and revision in a whole file's contents.
// The value aliases data.
func decodeRecord(data []byte) ([]byte, int64, error) {
	rev, err := parseHeader(data, int64(len(data)))
	if err != nil {
		return nil, 0, err
	}
	value := data[headerSize:]
	want := binary.BigEndian.Uint32(data[24:])
	if got := crc32.Update(crc32.Checksum(data[8:24], castagnoli), castagnoli, value); got != want {
		return nil, 0, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	return value, rev, nil
}
