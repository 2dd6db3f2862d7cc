package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

func TestSecretJSON(t *testing.T) {
	at := time.Date(2026, 11, 26, 1, 2, 3, 0, time.FixedZone("x", 3600))
	m := agentvault.SecretMetadata{Path: "a/b", Type: agentvault.TypeAPIKey, Tier: agentvault.TierStandard,
		CreatedBy: "me", CreatedAt: at, UpdatedAt: at, Version: "v2"}
	var buf bytes.Buffer
	require.NoError(t, writeJSON(&buf, toSecretJSON(&m, nil)))
	assert.Equal(t, `{
  "path": "a/b",
  "version": "v2",
  "type": "api_key",
  "tier": "standard",
  "tags": {},
  "description": "",
  "created_by": "me",
  "created_at": "2026-11-26T00:02:03Z",
  "updated_at": "2026-11-26T00:02:03Z",
  "expires_at": null,
  "expired": false
}
`, buf.String())

	m.ExpiresAt = at.Add(time.Hour)
	m.Tags = map[string]string{"k": "<v&>"}
	v := ""
	buf.Reset()
	require.NoError(t, writeJSON(&buf, toSecretJSON(&m, &v)))
	m2 := decodeObject(t, buf.String())
	assert.Equal(t, "", m2["value"], "an empty value is still shown")
	assert.Equal(t, "2026-11-26T01:02:03Z", m2["expires_at"])
	assert.Contains(t, buf.String(), `"<v&>"`, "HTML is not escaped")
}

func TestTableHelpers(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, "-", formatExpiry(time.Time{}, now))
	assert.Equal(t, "2026-01-02T00:00:00Z", formatExpiry(now.Add(24*time.Hour), now))
	assert.Equal(t, "2026-01-01T00:00:00Z (expired)", formatExpiry(now, now))
	assert.Equal(t, "-", formatTime(time.Time{}))
	assert.Equal(t, "a?b?c", cleanCell("a\tb\nc"))
	assert.Equal(t, "-", cleanCell(""))

	var buf bytes.Buffer
	require.NoError(t, writeTable(&buf, []string{"A", "LONGER"}, [][]string{{"xxxx", "y"}, {"z", "evil\tcell"}}))
	assert.Equal(t, "A     LONGER\nxxxx  y\nz     evil?cell\n", buf.String())
}
