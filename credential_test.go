package agentvault_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
)

// TestCredentialAsPathNeverRecorded: a live token and an agent key passed
// where a path, prefix, version, description, scope or name belongs are
// refused (ErrInvalidPath for paths and prefixes, ErrInvalidInput for the
// rest), and appear in no error, no audit event and no audit log line.
func TestCredentialAsPathNeverRecorded(t *testing.T) {
	var log bytes.Buffer
	v, _ := newVault(t, agentvault.WithAuditWriter(&log))
	createTier(t, v, "app/key", "x", agentvault.TierStandard)
	tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:*:*"}})
	_, agentKey, err := v.CreateAgent(ctx, agentvault.CreateAgentInput{Name: "ci", Scopes: []string{"secrets:read:*"}})
	require.NoError(t, err)

	for _, cred := range []string{tok.Value.Reveal(), agentKey.Reveal(), "app/" + tok.Value.Reveal(), "x" + agentKey.Reveal() + "/y"} {
		secretPart := strings.TrimSuffix(cred, "/y")
		secretPart = secretPart[len(secretPart)-12:] // of the random part
		val := agentvault.StringValue("v")
		desc := cred
		var errs []error
		pathErr := func(name string, err error) {
			assert.ErrorIs(t, err, agentvault.ErrInvalidPath, "%s with a credential path", name)
			errs = append(errs, err)
		}
		inputErr := func(name string, err error) {
			assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "%s with a credential", name)
			errs = append(errs, err)
		}
		_, err := v.GetSecret(ctx, cred)
		pathErr("GetSecret", err)
		_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: cred, Value: val})
		pathErr("CreateSecret", err)
		_, err = v.UpdateSecret(ctx, cred, agentvault.UpdateSecretInput{Value: &val})
		pathErr("UpdateSecret", err)
		pathErr("DeleteSecret", v.DeleteSecret(ctx, cred))
		_, err = v.ListSecrets(ctx, agentvault.ListFilter{Prefix: cred})
		pathErr("ListSecrets", err)
		_, err = v.ListVersions(ctx, cred)
		pathErr("ListVersions", err)
		_, err = v.Rollback(ctx, cred, "v1")
		pathErr("Rollback", err)
		_, err = v.GetMetadata(ctx, cred)
		pathErr("GetMetadata", err)
		_, err = v.RotateSecret(ctx, cred, agentvault.RotateOptions{Value: &val})
		pathErr("RotateSecret", err)
		_, err = v.ImportEnv(ctx, strings.NewReader("A=1\n"), agentvault.ImportOptions{Namespace: cred})
		pathErr("ImportEnv namespace", err)

		for name, s := range map[string]*agentvault.Session{"live": v.Session(tok.Value.Reveal()), "unknown": v.Session("nope")} {
			_, err = s.GetSecret(ctx, cred)
			errs = append(errs, err)
			_, err = s.CreateSecret(ctx, agentvault.CreateSecretInput{Path: cred, Value: val})
			errs = append(errs, err)
			_, err = s.UpdateSecret(ctx, cred, agentvault.UpdateSecretInput{Value: &val})
			errs = append(errs, err)
			errs = append(errs, s.DeleteSecret(ctx, cred))
			_, err = s.ListSecrets(ctx, agentvault.ListFilter{Prefix: cred})
			errs = append(errs, err)
			if name == "live" {
				for _, e := range errs[len(errs)-5:] {
					assert.ErrorIs(t, e, agentvault.ErrInvalidPath, "Session with a credential path")
				}
			}
		}

		_, err = v.GetSecret(ctx, "app/key", agentvault.AtVersion(cred))
		inputErr("GetSecret AtVersion", err)
		_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "app/d", Value: val, Description: desc})
		inputErr("CreateSecret Description", err)
		_, err = v.UpdateSecret(ctx, "app/key", agentvault.UpdateSecretInput{Description: &desc})
		inputErr("UpdateSecret Description", err)
		_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "app/t", Value: val, Tags: map[string]string{cred: "x"}})
		inputErr("CreateSecret tag key", err)
		_, err = v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:" + cred}})
		inputErr("RequestToken scope", err)
		_, err = v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:*"}, Description: desc})
		inputErr("RequestToken Description", err)
		_, _, err = v.CreateAgent(ctx, agentvault.CreateAgentInput{Name: cred, Scopes: []string{"secrets:read:*"}})
		inputErr("CreateAgent Name", err)
		_, _, err = v.CreateAgent(ctx, agentvault.CreateAgentInput{Name: "n", Scopes: []string{"secrets:" + cred + ":*"}})
		inputErr("CreateAgent scope", err)
		_, err = v.GetSecret(agentvault.ContextWithActor(ctx, cred), "app/key")
		inputErr("ContextWithActor", err)

		for _, err := range errs {
			require.Error(t, err)
			assert.NotContains(t, err.Error(), secretPart, "error text holds the credential")
		}
	}
	events, err := v.QueryAudit(ctx, agentvault.AuditQuery{})
	require.NoError(t, err)
	require.NotEmpty(t, events)
	all, err := json.Marshal(events)
	require.NoError(t, err)
	for _, cred := range []string{tok.Value.Reveal(), agentKey.Reveal()} {
		secretPart := cred[len(cred)-12:]
		assert.NotContains(t, string(all), secretPart, "audit events hold the credential")
		assert.NotContains(t, log.String(), secretPart, "audit log holds the credential")
	}
}

// TestAuditWriterIDNotACredential: the audit writer id is recorded in every
// event and key, so a credential-shaped one is refused by New.
func TestAuditWriterIDNotACredential(t *testing.T) {
	_, err := agentvault.New(membackend.New(), testKey(t), agentvault.WithAuditWriterID("ast_tok_AAAAAAAAAAAA"))
	require.ErrorIs(t, err, agentvault.ErrInvalidInput)
	assert.NotContains(t, err.Error(), "AAAAAAAAAAAA")
}
