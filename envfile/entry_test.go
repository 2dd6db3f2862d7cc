package envfile_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/envfile"
)

func TestEntryRedacts(t *testing.T) {
	e := envfile.Entry{Key: "PW", Value: secret, Line: 3, Quote: envfile.QuoteDouble}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		got := fmt.Sprintf(verb, e)
		assert.NotContains(t, got, secret, "Sprintf(%q, entry) leaks the value", verb)
		assert.Contains(t, got, "PW", "Sprintf(%q, entry)", verb)
	}
	assert.Equal(t, "PW=[REDACTED]", e.String())
	assert.Equal(t, `envfile.Entry{Key:"PW", Value:[REDACTED], Line:3, Export:false, Quote:double}`, fmt.Sprintf("%#v", e))

	f := &envfile.File{Entries: []envfile.Entry{e}}
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		assert.NotContains(t, fmt.Sprintf(verb, f), secret, "Sprintf(%q, file) leaks the value", verb)
	}

	b, err := json.Marshal(f)
	require.NoError(t, err)
	assert.NotContains(t, string(b), secret)
	assert.JSONEq(t, `{"Entries":[{"key":"PW","value":"[REDACTED]","line":3,"export":false,"quote":"double"}],"Warnings":null,"Duplicates":0}`, string(b))

	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("imported", "entry", e)
	assert.NotContains(t, buf.String(), secret)
	assert.Contains(t, buf.String(), "entry.key=PW")
}

func TestQuoteStyleString(t *testing.T) {
	assert.Equal(t, "auto", envfile.QuoteAuto.String())
	assert.Equal(t, "none", envfile.QuoteNone.String())
	assert.Equal(t, "single", envfile.QuoteSingle.String())
	assert.Equal(t, "double", envfile.QuoteDouble.String())
	assert.Equal(t, "QuoteStyle(9)", envfile.QuoteStyle(9).String())
}

func TestMapAndDedup(t *testing.T) {
	f, err := envfile.ParseString("A=1\nB=2\nA=3\nC=4\nB=5\n")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"A": "3", "B": "5", "C": "4"}, f.Map())
	keys := func(es []envfile.Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, fmt.Sprintf("%s=%s@%d", e.Key, e.Value, e.Line))
		}
		return out
	}
	// Parse already keeps each variable's last definition.
	assert.Equal(t, []string{"A=3@3", "C=4@4", "B=5@5"}, keys(f.Entries))
	assert.Equal(t, keys(f.Entries), keys(f.Dedup()))
	assert.Equal(t, 2, f.Duplicates)
	assert.Len(t, f.Warnings, 2)
	assert.Equal(t, "envfile: line 3: duplicate variable A overrides the definition at line 1", f.Warnings[0].String())

	// Dedup and Map apply the same rule to a File built by hand.
	byHand := &envfile.File{Entries: []envfile.Entry{
		{Key: "A", Value: "1", Line: 1}, {Key: "B", Value: "2", Line: 2}, {Key: "A", Value: "3", Line: 3},
	}}
	assert.Equal(t, []string{"B=2@2", "A=3@3"}, keys(byHand.Dedup()))
	assert.Len(t, byHand.Entries, 3, "Dedup must not modify the file")
	assert.Equal(t, map[string]string{"A": "3", "B": "2"}, byHand.Map())

	var zero envfile.File
	assert.Empty(t, zero.Map())
	assert.Empty(t, zero.Dedup())
}

func TestValidKey(t *testing.T) {
	for _, k := range []string{"A", "_", "a", "A_1", "a.b", "a-b", "_.-", "spring.datasource.url"} {
		assert.True(t, envfile.ValidKey(k), "ValidKey(%q)", k)
	}
	for _, k := range []string{"", "1A", ".", "..", "-a", ".a", "a b", "a/b", "a=b", "a:b", "é", "A$"} {
		assert.False(t, envfile.ValidKey(k), "ValidKey(%q)", k)
	}
}
