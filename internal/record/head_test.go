package record

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sampleV4 is sample() as a format version 4 head: only the active
// version's envelope is kept.
func sampleV4() *Secret {
	s := sampleV2()
	s.Versions[0].Tier = 3
	s.SecretID[0], s.SecretID[15] = 7, 9
	for i := range s.Versions {
		if s.Versions[i].Number != s.Active {
			s.Versions[i] = Version{Number: s.Versions[i].Number, CreatedAt: s.Versions[i].CreatedAt,
				CreatedBy: s.Versions[i].CreatedBy, Tier: s.Versions[i].Tier}
		}
	}
	return s
}

func sampleVersionRecord() *VersionRecord {
	vr := &VersionRecord{Path: "production/openai/api-key", WrittenAt: 77,
		Version: Version{Number: 1, KeyID: "k1", WrappedDEK: []byte("wrapped"), Ciphertext: bytes.Repeat([]byte{1}, 20)}}
	vr.SecretID[0] = 7
	vr.Version.Nonce[3] = 4
	return vr
}

// TestRoundTripV4: a head with a SecretID is format version 4, keeps the
// active envelope only, and round-trips exactly (creators repeated from
// the previous table entry included).
func TestRoundTripV4(t *testing.T) {
	s := sampleV4()
	s.Versions[0].CreatedBy = "carol" // differs from the next entry's
	b := withMAC(s.MarshalBody())
	require.Equal(t, "AVSR\x04", string(b[:5]))
	got, body, _, err := ParseSecret(b)
	require.NoError(t, err)
	assert.Equal(t, s, got)
	assert.Equal(t, body, got.MarshalBody())
	assert.True(t, got.Find(1).Detached())
	assert.False(t, got.Find(3).Detached())

	// A v4 record marshalled with every envelope in memory stores only the active one.
	full := sampleV2()
	full.SecretID = s.SecretID
	short := full.MarshalBody()
	assert.Less(t, len(short), len(sampleV2().MarshalBody())+SecretIDLen)
}

func TestParseV4Rejects(t *testing.T) {
	good := sampleV4().MarshalBody()
	zeroID := sampleV4()
	zeroID.SecretID = [SecretIDLen]byte{}
	noActive := sampleV4()
	noActive.Active = 2
	repeated := sampleV4().MarshalBody()
	// Spell the second creator out instead of 0xFFFF: a second encoding.
	i := bytes.LastIndex(repeated, []byte{0xFF, 0xFF})
	require.Positive(t, i)
	repeated = append(append(append([]byte{}, repeated[:i]...), 0, 3, 'b', 'o', 'b'), repeated[i+2:]...)
	cases := map[string][]byte{
		"truncated": good[:len(good)-3],
		"trailing":  append(append([]byte{}, good...), 0),
		"zero id":   append(good[:5:5], zeroID.MarshalBody()[5:]...),
		"repeated":  repeated,
	}
	for name, b := range cases {
		_, _, _, err := ParseSecret(withMAC(b))
		assert.ErrorIs(t, err, ErrFormat, name)
	}
	// A head whose active version is not in its table cannot be written at all:
	// the marshalled bytes do not parse.
	_, _, _, err := ParseSecret(withMAC(noActive.MarshalBody()))
	assert.ErrorIs(t, err, ErrFormat, "active version missing")
}

func TestVersionRecordRoundTrip(t *testing.T) {
	vr := sampleVersionRecord()
	b := withMAC(vr.MarshalBody())
	got, body, mac, err := ParseVersionRecord(b)
	require.NoError(t, err)
	assert.Equal(t, vr, got)
	assert.Equal(t, body, got.MarshalBody())
	assert.Len(t, mac, MACLen)
	for name, bad := range map[string][]byte{
		"head as version record": withMAC(sampleV4().MarshalBody()),
		"truncated":              b[:len(b)-MACLen-1],
		"trailing":               withMAC(append(vr.MarshalBody(), 0)),
	} {
		_, _, _, err := ParseVersionRecord(bad)
		assert.ErrorIs(t, err, ErrFormat, name)
	}
	_, _, _, err = ParseSecret(b)
	assert.ErrorIs(t, err, ErrFormat, "version record as head")
}

// FuzzParseVersionRecord: never panics; accepted input re-encodes identically.
func FuzzParseVersionRecord(f *testing.F) {
	f.Add(withMAC(sampleVersionRecord().MarshalBody()))
	f.Add([]byte("AVSV\x04"))
	f.Fuzz(func(t *testing.T, b []byte) {
		vr, body, _, err := ParseVersionRecord(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("ParseVersionRecord error %v does not wrap ErrFormat", err)
			}
			return
		}
		if !bytes.Equal(vr.MarshalBody(), body) {
			t.Fatalf("ParseVersionRecord accepted a non-canonical encoding")
		}
	})
}

// TestVersionTableRuns: consecutive versions with one floor and creator
// share a run, so a long history costs a few bytes per version; runs
// split where number, floor or creator change, and parse back exactly.
func TestVersionTableRuns(t *testing.T) {
	s := sampleV4()
	s.Versions = nil
	for n := uint32(1); n <= 1000; n++ {
		v := Version{Number: n, CreatedAt: 1_700_000_000_000_000_000 + int64(n)*3_600_000_000_000, CreatedBy: "ci", Tier: 3}
		switch {
		case n > 600:
			v.Tier = 0 // after a lowering
		case n == 10:
			v.CreatedBy = "alice"
		case n == 11:
			v.CreatedAt -= 7 // a clock that went back
		}
		if n != 500 { // pruned
			s.Versions = append(s.Versions, v)
		}
	}
	s.Active, s.MaxVersion = 1000, 1000
	s.Versions[len(s.Versions)-1].KeyID, s.Versions[len(s.Versions)-1].WrappedDEK = "k", []byte("w")
	s.Versions[len(s.Versions)-1].Ciphertext = bytes.Repeat([]byte{1}, 16)
	body := s.MarshalBody()
	assert.Less(t, len(body), 1000*8, "a 1,000-version head stays small")
	got, _, _, err := ParseSecret(withMAC(body))
	require.NoError(t, err)
	assert.Equal(t, s, got)
}
