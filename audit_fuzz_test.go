package agentvault

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/localkms"
)

// FuzzAuditStrings writes events holding arbitrary actor, path and reason
// strings (directly, and through the public API) and requires that every
// chain still verifies, in the backend and in the JSON-lines log, and that
// every query succeeds: no input can fake a tamper alarm.
func FuzzAuditStrings(f *testing.F) {
	for _, s := range [][3]string{
		{"mallory\xff", "app/key", "reason"},
		{"victim\uFFFD", "a/b", "\xff\xfe"},
		{"<script>&amp;", "p\u2028q", "\u2029\x00\x1b[0m"},
		{`"quoted\" \\`, "../../etc", `{"hash":"00"}`},
		{strings.Repeat("x", 300), strings.Repeat("a/", 300), strings.Repeat("é", 600)},
		{"ast_tok_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "ast_agent_x", ",\"hash\":\""},
		{"", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	k, err := localkms.New("k", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, actor, path, reason string) {
		ctx := context.Background()
		var log bytes.Buffer
		v, err := New(membackend.New(), k, WithAuditWriter(&log))
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		direct := &AuditEvent{Event: EventSecretRead, Actor: Actor{Kind: ActorHuman, ID: actor}, Path: path, Reason: reason, Outcome: OutcomeFailed}
		if err := v.emit(ctx, direct); err != nil {
			t.Fatalf("emit: %v", err)
		}
		c := ContextWithActor(ctx, actor)
		_, _ = v.GetSecret(c, path)
		_, _ = v.CreateSecret(c, CreateSecretInput{Path: path, Value: StringValue("v"), Description: reason})
		_, _ = v.ListSecrets(c, ListFilter{Prefix: path})
		_, _ = v.Deny(c, "apr_00000000000000000000", reason)
		_, _, _ = v.CreateAgent(c, CreateAgentInput{Name: actor, Description: reason, Scopes: []string{"secrets:read:*"}})

		rep, err := v.VerifyAudit(ctx)
		if err != nil {
			t.Fatalf("VerifyAudit: false alarm: %v", err)
		}
		if rep.Events < 6 {
			t.Fatalf("VerifyAudit checked %d events, want at least 6", rep.Events)
		}
		if _, err := v.VerifyAuditLog(bytes.NewReader(log.Bytes())); err != nil {
			t.Fatalf("VerifyAuditLog: false alarm: %v", err)
		}
		evs, err := v.QueryAudit(ctx, AuditQuery{})
		if err != nil {
			t.Fatalf("QueryAudit: %v", err)
		}
		if len(evs) != rep.Events {
			t.Fatalf("QueryAudit returned %d events, VerifyAudit checked %d", len(evs), rep.Events)
		}
	})
}

// TestAuditScrubsCredentials: whatever reaches the audit sink, no field of
// a stored or logged event holds a credential.
func TestAuditScrubsCredentials(t *testing.T) {
	ctx := context.Background()
	k, err := localkms.New("k", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	v, err := New(membackend.New(), k, WithAuditWriter(&log))
	if err != nil {
		t.Fatal(err)
	}
	raw := TokenPrefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	key := AgentKeyPrefix + "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
	e := &AuditEvent{Event: EventSecretRead, Actor: Actor{Kind: ActorHuman, ID: raw}, Path: "p/" + key,
		Version: raw, Reason: key, TokenAccessor: raw, ApprovalID: key, AgentID: raw, ImportID: key, Outcome: OutcomeFailed}
	if err := v.emit(ctx, e); err != nil {
		t.Fatal(err)
	}
	stored, err := v.QueryAudit(ctx, AuditQuery{})
	if err != nil || len(stored) != 1 {
		t.Fatalf("QueryAudit = %d events, %v", len(stored), err)
	}
	for _, s := range []string{log.String(), stored[0].Path, stored[0].Actor.ID, stored[0].Version, stored[0].Reason} {
		if strings.Contains(s, "AAAAAAAAAA") || strings.Contains(s, "BBBBBBBBBB") {
			t.Fatalf("a credential reached the audit trail: %s", s)
		}
	}
}
