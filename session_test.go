package agentvault_test

import (
	"testing"

	"github.com/agentvault/agentvault"
)

// BenchmarkTokenGetSecret reads one secret directly and through a token,
// with the audit trail on (the default) and off, on each backend; through
// a token, also one with MaxUses and one issued to an agent.
func BenchmarkTokenGetSecret(b *testing.B) {
	for _, bk := range benchBackends(b) {
		for _, audit := range []bool{false, true} {
			for _, via := range []string{"direct", "token", "token-maxuses", "token-agent"} {
				name := bk.name + "/audit-off/" + via
				if audit {
					name = bk.name + "/audit-on/" + via
				}
				b.Run(name, func(b *testing.B) {
					v, err := agentvault.New(bk.open(b), testKey(b), agentvault.WithAudit(audit))
					if err != nil {
						b.Fatal(err)
					}
					defer v.Close()
					if _, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{
						Path: "production/openai/api-key", Value: agentvault.NewValue(benchValue()), Tier: agentvault.TierStandard,
					}); err != nil {
						b.Fatal(err)
					}
					req := agentvault.TokenRequest{Scopes: []string{"secrets:read:production/*"}}
					if via == "token-maxuses" {
						req.MaxUses = 1 << 30
					}
					rc := ctx
					if via == "token-agent" { // one more backend read per use: the agent's current record
						_, key, err := v.CreateAgent(ctx, agentvault.CreateAgentInput{Name: "bench", Scopes: req.Scopes})
						if err != nil {
							b.Fatal(err)
						}
						rc = agentvault.ContextWithAgentKey(ctx, key.Reveal())
					}
					tok, err := v.RequestToken(rc, req)
					if err != nil {
						b.Fatal(err)
					}
					s := v.Session(tok.Value.Reveal())
					get := v.GetSecret
					if via != "direct" {
						get = s.GetSecret
					}
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if _, err := get(ctx, "production/openai/api-key"); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
