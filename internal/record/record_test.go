package record

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sample() *Secret {
	s := &Secret{
		Path: "production/openai/api-key", Type: "api_key", Tier: 2, Description: "d",
		Tags:      []Tag{{"env", "prod"}, {"team", "ml"}},
		CreatedBy: "alice", CreatedAt: 1, UpdatedAt: 2, ExpiresAt: 3, Active: 2, MaxVersion: 3,
	}
	for _, n := range []uint32{1, 3} {
		v := Version{Number: n, CreatedAt: int64(n), CreatedBy: "bob", KeyID: "k1",
			WrappedDEK: []byte("wrapped"), Ciphertext: bytes.Repeat([]byte{byte(n)}, 20)}
		v.Nonce[0] = byte(n)
		s.Versions = append(s.Versions, v)
	}
	s.Active = 3
	return s
}

func withMAC(body []byte) []byte { return append(body, make([]byte, MACLen)...) }

func TestRoundTrip(t *testing.T) {
	s := sample()
	b := withMAC(s.MarshalBody())
	got, body, mac, err := ParseSecret(b)
	require.NoError(t, err)
	assert.Equal(t, s, got)
	assert.Equal(t, b[:len(b)-MACLen], body)
	assert.Len(t, mac, MACLen)
	assert.Equal(t, body, got.MarshalBody())
	assert.NotNil(t, got.Find(3))
	assert.Nil(t, got.Find(2))
}

func TestParseRejects(t *testing.T) {
	good := sample().MarshalBody()
	cases := map[string][]byte{
		"empty":          nil,
		"short":          []byte("AVSR"),
		"wrong magic":    withMAC(append([]byte("XXXX"), good[4:]...)),
		"unknown format": withMAC(append(append([]byte("AVSR"), 5), good[5:]...)),
		"v3 without v3":  withMAC(append(append(append([]byte("AVSR"), 3), good[5:]...), make([]byte, v2Len+2)...)),
		"v3 truncated":   withMAC(append(append(append([]byte("AVSR"), 3), good[5:]...), append(make([]byte, v2Len), 1)...)),
		"v2 without v2":  withMAC(append(append(append([]byte("AVSR"), 2), good[5:]...), make([]byte, v2Len)...)),
		"v2 truncated":   withMAC(append(append([]byte("AVSR"), 2), good[5:]...)),
		"trailing":       withMAC(append(bytes.Clone(good), 0)),
		"truncated":      withMAC(good[:len(good)-3]),
	}
	for name, b := range cases {
		_, _, _, err := ParseSecret(b)
		require.Error(t, err, name)
		assert.True(t, errors.Is(err, ErrFormat), "%s: err = %v, want ErrFormat", name, err)
	}

	unsorted := sample()
	unsorted.Tags = []Tag{{"team", "ml"}, {"env", "prod"}}
	_, _, _, err := ParseSecret(withMAC(unsorted.MarshalBody()))
	assert.ErrorIs(t, err, ErrFormat, "unsorted tags")

	noActive := sample()
	noActive.Active = 2
	_, _, _, err = ParseSecret(withMAC(noActive.MarshalBody()))
	assert.ErrorIs(t, err, ErrFormat, "active version missing")

	order := sample()
	order.Versions[0], order.Versions[1] = order.Versions[1], order.Versions[0]
	_, _, _, err = ParseSecret(withMAC(order.MarshalBody()))
	assert.ErrorIs(t, err, ErrFormat, "versions out of order")

	over := sample()
	over.MaxVersion = 2
	_, _, _, err = ParseSecret(withMAC(over.MarshalBody()))
	assert.ErrorIs(t, err, ErrFormat, "version above max")
}

func sampleV2() *Secret {
	s := sample()
	s.Previous, s.GraceUntil = 1, 10
	s.RotateEvery, s.RotationGrace, s.NextRotation = 7, 8, 9
	return s
}

func TestRoundTripV2(t *testing.T) {
	for name, s := range map[string]*Secret{"all": sampleV2(), "one field": func() *Secret {
		s := sample()
		s.NextRotation = -1
		return s
	}()} {
		b := withMAC(s.MarshalBody())
		require.Equal(t, byte(formatV2), b[4], "%s: format byte", name)
		got, body, _, err := ParseSecret(b)
		require.NoError(t, err, name)
		assert.Equal(t, s, got, name)
		assert.Equal(t, body, got.MarshalBody(), name)
	}
	// Without lifecycle fields the record is written as version 1.
	assert.Equal(t, byte(formatV1), sample().MarshalBody()[4])
}

func sampleV3() *Secret {
	s := sample()
	s.Versions[0].Tier = 3 // written while the secret was critical
	return s
}

// TestRoundTripV3: a version tier floor makes the record format version 3
// (with or without lifecycle fields), which round-trips exactly.
func TestRoundTripV3(t *testing.T) {
	withLifecycle := sampleV2()
	withLifecycle.Versions[1].Tier = 2
	for name, s := range map[string]*Secret{"floors only": sampleV3(), "floors and lifecycle": withLifecycle} {
		b := withMAC(s.MarshalBody())
		require.Equal(t, byte(formatV3), b[4], "%s: format byte", name)
		got, body, _, err := ParseSecret(b)
		require.NoError(t, err, name)
		assert.Equal(t, s, got, name)
		assert.Equal(t, body, got.MarshalBody(), name)
	}
	// Without floors the record keeps its version 1 or 2 encoding.
	assert.Equal(t, byte(formatV2), sampleV2().MarshalBody()[4])
	assert.Equal(t, byte(formatV1), sample().MarshalBody()[4])
}

func TestConfigRoundTrip(t *testing.T) {
	c := &Config{CreatedAt: 42, KeyID: "k", WrappedMACKey: []byte("wrapped")}
	c.VaultID[3] = 9
	got, err := ParseConfig(c.Marshal())
	require.NoError(t, err)
	assert.Equal(t, c, got)
	_, err = ParseConfig(append(c.Marshal(), 1))
	assert.ErrorIs(t, err, ErrFormat)
	_, err = ParseConfig(c.Marshal()[:10])
	assert.ErrorIs(t, err, ErrFormat)
}

func TestAADDistinguishesFields(t *testing.T) {
	id := []byte("0123456789abcdef")
	seen := map[string]bool{}
	for _, a := range [][]byte{
		AAD(PurposeValue, id, "a/b", 1), AAD(PurposeDEK, id, "a/b", 1), AAD(PurposeValue, id, "a/b", 2),
		AAD(PurposeValue, id, "a/bc", 1), AAD(PurposeValue, []byte("0123456789abcdeF"), "a/b", 1),
		AAD(PurposeMACKey, id, "", 0),
	} {
		require.False(t, seen[string(a)])
		seen[string(a)] = true
	}
}

// FuzzParseSecret: the parser never panics, and whatever it accepts
// re-encodes to exactly the same bytes (one encoding per record).
func FuzzParseSecret(f *testing.F) {
	f.Add(withMAC(sample().MarshalBody()))
	one := sample()
	one.Versions = one.Versions[1:]
	one.Tags = nil
	f.Add(withMAC(one.MarshalBody()))
	f.Add([]byte("AVSR\x01"))
	f.Add(withMAC(sampleV2().MarshalBody()))
	f.Add([]byte("AVSR\x02"))
	f.Add(withMAC(sampleV3().MarshalBody()))
	v3 := sampleV2()
	v3.Versions[1].Tier = 1
	f.Add(withMAC(v3.MarshalBody()))
	f.Add([]byte("AVSR\x03"))
	f.Add(withMAC(sampleV4().MarshalBody()))
	f.Add([]byte("AVSR\x04"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, body, _, err := ParseSecret(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("ParseSecret error %v does not wrap ErrFormat", err)
			}
			return
		}
		if !bytes.Equal(s.MarshalBody(), body) {
			t.Fatalf("ParseSecret accepted a non-canonical encoding")
		}
		if !s.IsV4() || s.MaxVersion == ^uint32(0) {
			return
		}
		// A derived head (copy-on-write table, tail re-encoded) encodes
		// exactly like a full encoding of the same table, whatever the
		// table it starts from; the parsed head is left as it was.
		d := s.Derive()
		if !bytes.Equal(d.MarshalBodyKeep(), body) {
			t.Fatalf("a derived head encodes differently")
		}
		last := d.Versions[len(d.Versions)-1]
		by := last.CreatedBy
		if len(b)%3 == 0 {
			by += "x"
		}
		for i, at := range []int64{last.CreatedAt + int64(len(b)), last.CreatedAt - 1} {
			n := d.MaxVersion + 1
			if n == 0 {
				break
			}
			e := d.Derive()
			e.AppendVersion(Version{Number: n, CreatedAt: at, CreatedBy: by, Tier: last.Tier + uint8(i*len(b)%2),
				KeyID: "k", WrappedDEK: []byte{1}, Ciphertext: make([]byte, 16)})
			e.MaxVersion, e.Active = n, n
			if !bytes.Equal(e.MarshalBodyKeep(), e.Clone().MarshalBody()) {
				t.Fatalf("a derived head with an added version encodes differently from a full encoding")
			}
			d = e
		}
		if !bytes.Equal(s.MarshalBody(), body) {
			t.Fatalf("deriving changed the parsed head")
		}
	})
}

// FuzzParseConfig: never panics; accepted input re-encodes identically.
func FuzzParseConfig(f *testing.F) {
	c := &Config{CreatedAt: 1, KeyID: "k", WrappedMACKey: []byte("w")}
	f.Add(c.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseConfig(b)
		if err != nil {
			return
		}
		if !bytes.Equal(got.Marshal(), b) {
			t.Fatalf("ParseConfig accepted a non-canonical encoding")
		}
	})
}
