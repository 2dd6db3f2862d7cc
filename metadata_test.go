package agentvault_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
)

func TestOpenRequiresExistingVault(t *testing.T) {
	b := membackend.New()
	_, err := agentvault.Open(b, testKey(t))
	require.ErrorIs(t, err, agentvault.ErrNoVault)
	keys, err := b.List(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, keys, "Open writes nothing")
	v, err := agentvault.New(b, testKey(t))
	require.NoError(t, err)
	create(t, v, "a", "x")
	v2, err := agentvault.Open(b, testKey(t))
	require.NoError(t, err)
	assert.Equal(t, "x", get(t, v2, "a").Value.Reveal())
}

func TestGetMetadataAnswersForExpired(t *testing.T) {
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now))
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "e", Value: agentvault.StringValue("x"), ExpiresIn: time.Minute, Tags: map[string]string{"a": "1"}})
	require.NoError(t, err)
	clk.Add(time.Hour)
	m, err := v.GetMetadata(ctx, "e")
	require.NoError(t, err)
	assert.True(t, m.Expired(clk.Now()))
	assert.Equal(t, "v1", m.Version)
	_, err = v.GetSecret(ctx, "e")
	require.ErrorIs(t, err, agentvault.ErrExpired)
	assert.Equal(t, "agentvault: get e: secret expired", err.Error(), "no version named when none was asked for")
	_, err = v.GetMetadata(ctx, "missing")
	require.ErrorIs(t, err, agentvault.ErrNotFound)
}

func TestSetAndRemoveTagsMerge(t *testing.T) {
	v, _ := newVault(t)
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "t", Value: agentvault.StringValue("x"), Tags: map[string]string{"a": "1", "b": "2"}})
	require.NoError(t, err)
	m, err := v.UpdateSecret(ctx, "t", agentvault.UpdateSecretInput{SetTags: map[string]string{"b": "20", "c": "3"}, RemoveTags: []string{"a"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"b": "20", "c": "3"}, m.Tags)
	many := map[string]string{}
	for i := 0; i < 63; i++ {
		many[string(rune('A'+i%26))+string(rune('a'+i/26))] = "v"
	}
	_, err = v.UpdateSecret(ctx, "t", agentvault.UpdateSecretInput{SetTags: many})
	require.ErrorIs(t, err, agentvault.ErrInvalidInput, "65 tags after the merge")
}
