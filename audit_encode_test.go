package agentvault

import (
	"encoding/json"
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
	})
}
