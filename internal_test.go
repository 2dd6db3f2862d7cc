package agentvault

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/localkms"
)

// TestEnvelopeBoundToVersion re-labels version envelopes inside a record and
// re-MACs it with the vault's own MAC key: only the AAD binding of the
// ciphertext and of the wrapped data key can catch that, and it must.
func TestEnvelopeBoundToVersion(t *testing.T) {
	ctx := context.Background()
	k, err := localkms.New("k", []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	b := membackend.New()
	v, err := New(b, k, WithKeyCache(0, 0))
	require.NoError(t, err)
	_, err = v.CreateSecret(ctx, CreateSecretInput{Path: "p/a", Value: StringValue("one")})
	require.NoError(t, err)
	two := StringValue("two")
	_, err = v.UpdateSecret(ctx, "p/a", UpdateSecretInput{Value: &two})
	require.NoError(t, err)
	_, err = v.CreateSecret(ctx, CreateSecretInput{Path: "p/b", Value: StringValue("bee")})
	require.NoError(t, err)

	rec, rev, err := v.load(ctx, "p/a")
	require.NoError(t, err)

	// v2's envelope presented as v1 (and active).
	moved := cloneRecord(rec)
	moved.Versions = moved.Versions[1:]
	moved.Versions[0].Number = 1
	moved.Active = 1
	_, err = b.Put(ctx, secretPrefix+"p/a", v.encode(moved), rev)
	require.NoError(t, err)
	_, err = v.GetSecret(ctx, "p/a")
	require.ErrorIs(t, err, ErrIntegrity, "envelope moved to another version")

	// p/b's envelope grafted into p/a as its v1.
	recB, _, err := v.load(ctx, "p/b")
	require.NoError(t, err)
	_, rev, err = b.Get(ctx, secretPrefix+"p/a")
	require.NoError(t, err)
	grafted := cloneRecord(rec)
	grafted.Versions[0] = recB.Versions[0]
	grafted.Active = 1
	_, err = b.Put(ctx, secretPrefix+"p/a", v.encode(grafted), rev)
	require.NoError(t, err)
	_, err = v.GetSecret(ctx, "p/a")
	require.ErrorIs(t, err, ErrIntegrity, "envelope moved to another path")

	// Only the wrapped data key swapped (the value ciphertext stays).
	_, rev, err = b.Get(ctx, secretPrefix+"p/a")
	require.NoError(t, err)
	swapped := cloneRecord(rec)
	swapped.Versions[0].WrappedDEK = rec.Versions[1].WrappedDEK
	swapped.Active = 1
	_, err = b.Put(ctx, secretPrefix+"p/a", v.encode(swapped), rev)
	require.NoError(t, err)
	_, err = v.GetSecret(ctx, "p/a")
	require.ErrorIs(t, err, ErrIntegrity, "wrapped data key of another version")
}

// hasCredential finds either credential prefix anywhere, with one scan for
// their common stem: it agrees with searching for each prefix.
func TestHasCredentialMatchesPrefixSearch(t *testing.T) {
	if !strings.HasPrefix(TokenPrefix, credentialStem) || !strings.HasPrefix(AgentKeyPrefix, credentialStem) {
		t.Fatalf("both prefixes must start with %q", credentialStem)
	}
	parts := []string{"", "a", "ast", "ast_", "ast_t", TokenPrefix, AgentKeyPrefix, "ast_tok", "ast_agent", "/", "xast_", "é"}
	for _, a := range parts {
		for _, b := range parts {
			for _, c := range parts {
				s := a + b + c
				want := strings.Contains(s, TokenPrefix) || strings.Contains(s, AgentKeyPrefix)
				if got := hasCredential(s); got != want {
					t.Errorf("hasCredential(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
}

func FuzzHasCredential(f *testing.F) {
	f.Add("app/ast_ast_tok_x")
	f.Fuzz(func(t *testing.T, s string) {
		want := strings.Contains(s, TokenPrefix) || strings.Contains(s, AgentKeyPrefix)
		if got := hasCredential(s); got != want {
			t.Fatalf("hasCredential(%q) = %v, want %v", s, got, want)
		}
	})
}
