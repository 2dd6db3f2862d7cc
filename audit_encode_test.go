package agentvault

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditEncodingMatchesJSON: the event encoder writes exactly what
// json.Marshal writes, so events stay in today's format.
func TestAuditEncodingMatchesJSON(t *testing.T) {
	for _, e := range []AuditEvent{
		{},
		{ID: "w:1", Time: time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC), Event: EventSecretRead,
			Actor: Actor{Kind: ActorToken, ID: "acc"}, Path: "app/key", Version: "v3", Type: TypeAPIKey,
			Tier: TierSensitive, TokenAccessor: "acc", ApprovalID: "apr_1", AgentID: "ag", ImportID: "imp",
			Via: "mcp", Outcome: OutcomeAllowed, Reason: "r", Writer: "w", Seq: 18446744073709551615, Prev: "ab", Hash: "cd"},
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Path: "<a>&\"\\\b\f\n\r\t\x00\x1f\x7f", Reason: "\xff\xfe\u2028\u2029é😀", Actor: Actor{ID: "\xe2\x80"}},
	} {
		want, err := json.Marshal(&e)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(appendEvent(nil, &e)))
	}
}

// TestAuditEncodingCoversEveryField sets every string field of AuditEvent
// (found by reflection, so a field added later is covered too) and holds
// the encoder to json.Marshal: a field the encoder forgets fails here.
func TestAuditEncodingCoversEveryField(t *testing.T) {
	var e AuditEvent
	rv := reflect.ValueOf(&e).Elem()
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x-" + rv.Type().Field(i).Name)
		case reflect.Uint64:
			f.SetUint(uint64(i))
		case reflect.Struct:
			for j := 0; j < f.NumField(); j++ {
				if f.Field(j).Kind() == reflect.String && f.Field(j).CanSet() {
					f.Field(j).SetString("y")
				}
			}
		}
	}
	e.Time = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	want, err := json.Marshal(&e)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(appendEvent(nil, &e)))
}

// FuzzAuditEncoding holds the encoder to json.Marshal on any strings.
func FuzzAuditEncoding(f *testing.F) {
	f.Add("app/key", "reason", "\xff<\u2028>\x01")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		e := AuditEvent{ID: a, Time: time.Unix(0, int64(len(a))*1e7+int64(len(b))).UTC(), Event: b, Actor: Actor{Kind: ActorKind(c), ID: a},
			Path: b, Version: c, Reason: a + b + c, Writer: c, Prev: a, Via: b}
		want, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendEvent(nil, &e); string(got) != string(want) {
			t.Fatalf("appendEvent = %s\njson.Marshal = %s", got, want)
		}
		var tc timeCache // the sealing path's cached time, cold and warm
		for range 2 {
			if got, plain := appendEventFields(nil, &e, &tc), appendEventFields(nil, &e, nil); string(got) != string(plain) {
				t.Fatalf("with the time cache: %s\nwithout: %s", got, plain)
			}
		}
	})
}

// TestAuditSealMatchesJSON: a sealed line is json.Marshal of the event with
// its ID ("writer:seq") and Hash, and the hash is the HMAC of the line up to
// its hash field, for events in one second, across seconds, with and
// without a fraction, and with a writer id needing escapes.
func TestAuditSealMatchesJSON(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	base := time.Date(2026, 12, 1, 2, 3, 4, 0, time.UTC)
	for _, writer := range []string{"8d20e87b59d47c6b", "cli-host1", `w"<\x`} {
		st := &auditWriterState{writer: writer}
		var buf []byte
		for i, d := range []time.Duration{0, 1, 120 * time.Millisecond, 999999999, time.Second, time.Second + 10, 61 * time.Second, 24 * time.Hour} {
			e := &AuditEvent{Time: base.Add(d), Event: EventSecretRead, Actor: Actor{Kind: ActorService, ID: "svc"},
				Path: "app/key", Outcome: OutcomeAllowed}
			start := len(buf)
			buf = st.appendSealed(buf, e, key)
			line := buf[start:]
			st.seq, st.prev = e.Seq, e.Hash

			want := *e
			want.ID = fmt.Sprintf("%s:%d", writer, i+1)
			wantJSON, err := json.Marshal(&want)
			require.NoError(t, err)
			require.Equal(t, string(wantJSON), string(line), "event %d", i)
			got, err := parseAuditEvent(line, key)
			require.NoError(t, err, "event %d", i)
			assert.Equal(t, want.ID, got.ID)
			assert.True(t, got.Time.Equal(e.Time), "event %d: time %v, want %v", i, got.Time, e.Time)
			assert.Equal(t, uint64(i+1), got.Seq)
		}
	}
}

// The time cache writes what AppendFormat(RFC3339Nano) writes, for UTC
// and other zones, across second boundaries and years.
func TestAuditTimeCache(t *testing.T) {
	var c timeCache
	for _, tm := range []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 6, 10, time.UTC),
		time.Date(999, 1, 2, 3, 4, 6, 10, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 6, 10, time.FixedZone("X", 3600)),
		time.Date(2026, 1, 2, 3, 4, 6, 10, time.FixedZone("UTC", 0)),
		time.Date(10000, 1, 2, 3, 4, 6, 10, time.UTC),
		time.Unix(0, 0).UTC(),
		time.Date(2026, 1, 2, 3, 4, 6, 10, time.UTC),
	} {
		assert.Equal(t, tm.Format(time.RFC3339Nano), string(c.appendTime(nil, tm)), "%v", tm)
	}
}

// Strings from a stringBlock keep their bytes whatever is made after them
// and whatever happens to the slices they were made from.
func TestStringBlock(t *testing.T) {
	var sb stringBlock
	var made []string
	var want []string
	src := make([]byte, 64)
	for i := range 500 {
		for j := range src {
			src[j] = byte('a' + (i+j)%26)
		}
		n := 1 + i%64
		made = append(made, sb.string(src[:n]))
		want = append(want, string(src[:n]))
	}
	clear(src)
	assert.Equal(t, want, made)
	assert.Equal(t, "", sb.string(nil))
}

// TestAuditSealMemoSeesEveryField: sealing keeps the encoding of the last
// event's fields after the time and reuses it for an event with the same
// fields. Each string field of AuditEvent (found by reflection, so a field
// added later is covered too) is changed in turn from one sealed event to
// the next, to equal strings in new memory and back: every line is still
// json.Marshal of its event. A prev that is not a hash sealed here is
// escaped as any other string.
func TestAuditSealMemoSeesEveryField(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	st := &auditWriterState{writer: "w1"}
	base := AuditEvent{Time: time.Date(2026, 12, 1, 2, 3, 4, 5, time.UTC), Event: EventSecretRead,
		Actor: Actor{Kind: ActorService, ID: "svc"}, Path: "app/key", Version: "v1", Type: TypeAPIKey,
		Tier: TierSensitive, Outcome: OutcomeAllowed}
	var buf []byte
	seal := func(e AuditEvent, what string) {
		t.Helper()
		buf = st.appendSealed(buf[:0], &e, key)
		want := e
		want.ID = fmt.Sprintf("%s:%d", st.writer, e.Seq)
		wantJSON, err := json.Marshal(&want)
		require.NoError(t, err)
		require.Equal(t, string(wantJSON), string(buf), what)
		_, err = parseAuditEvent(buf, key)
		require.NoError(t, err, what)
		st.seq, st.prev = e.Seq, e.Hash
	}
	seal(base, "first")
	seal(base, "same fields")
	rt := reflect.TypeOf(base)
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		switch f.Name {
		case "ID", "Writer", "Prev", "Hash": // set by sealing
			continue
		}
		for _, val := range []string{"changed", "<&>\"", string([]byte("changed"))} {
			e := base
			rv := reflect.ValueOf(&e).Elem().Field(i)
			switch rv.Kind() {
			case reflect.String:
				rv.SetString(val)
			case reflect.Struct:
				if f.Name != "Actor" {
					continue
				}
				rv.Field(1).SetString(val) // Actor.ID
			default:
				continue
			}
			seal(e, f.Name+" = "+val)
			seal(base, f.Name+" back")
		}
	}
	st.prev = `not"a hash`
	seal(base, "foreign prev")
	st.writer = `w"2`
	seal(base, "another writer")
}
