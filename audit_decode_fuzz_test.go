package agentvault

import (
	"bytes"
	"testing"
	"time"
)

// FuzzAuditDecode feeds arbitrary bytes to the audit entry decoder: it
// never panics, accepts only entries whose MAC verifies over the stored
// bytes, and an accepted event sealed again decodes back to the same
// fields.
func FuzzAuditDecode(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	seal := func(e *AuditEvent) []byte {
		body := appendEvent(nil, e)
		raw := append(body[:len(body)-1:len(body)-1], auditHashOpen...)
		raw = append(raw, auditMAC(key, body)...)
		return append(raw, `"}`...)
	}
	f.Add(seal(&AuditEvent{ID: "w:1", Time: time.Unix(1, 2).UTC(), Event: EventSecretRead, Path: "a/b", Writer: "w", Seq: 1}))
	f.Add(seal(&AuditEvent{Reason: "\xff\u2028<>&", Actor: Actor{ID: "mallory\xff"}}))
	f.Add([]byte(`{"id":"x","hash":"00"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := parseAuditEvent(raw, key)
		if err != nil {
			return
		}
		c := *e
		c.Hash = ""
		again := seal(&c)
		e2, err := parseAuditEvent(again, key)
		if err != nil {
			t.Fatalf("re-sealed accepted event does not decode: %v", err)
		}
		if e2.Path != e.Path || e2.Reason != e.Reason || e2.Actor != e.Actor || e2.Seq != e.Seq {
			t.Fatalf("round trip changed the event: %+v vs %+v", e, e2)
		}
	})
}
