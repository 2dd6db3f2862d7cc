package main

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agentvault/agentvault"
)

var listCommand = &command{
	name:      "list",
	withToken: true,
	args:      "[PREFIX]",
	summary:   "list secrets (metadata only, never values)",
	details: `Lists the secrets under PREFIX (all when omitted), sorted by path, in
columns PATH TYPE TIER VERSION UPDATED EXPIRES (a cell wider than 60
characters is cut in the middle with "…"; --json has it whole). PREFIX
matches whole segments: "staging" and "staging/" both mean the secret
staging and everything under staging/, never staging2/…. Expired secrets
are listed and marked. Filters combine: every one given must match.

With --json, prints an array of metadata objects (the fields of get --json
without "value", "expired" true for an expired secret); [] when nothing
matches.

With --token TOKEN, or $ASS_TOKEN, lists through that scoped token: only the
secrets a read scope of the token covers and whose tier is within the
token's. A token that is not usable exits 6.`,
	maxArgs: 1,
	define: func(fs *flag.FlagSet) func(*cli, []string) error {
		var typ typeFlag
		var tier tierFlag
		var within durationFlag
		tags := tagsFlag{}
		fs.Var(&typ, "type", "only secrets of `TYPE`")
		fs.Var(&tier, "tier", "only secrets of access `TIER`")
		fs.Var(tags, "tag", "only secrets tagged `KEY=VALUE` (repeatable: all must match)")
		fs.Var(&within, "expiring-within", "only secrets expiring within `DURATION` (expired ones included): 30d, 12h …")
		return func(c *cli, args []string) error {
			f := agentvault.ListFilter{
				Type: agentvault.SecretType(typ), Tier: agentvault.AccessTier(tier),
				ExpiringWithin: time.Duration(within),
			}
			if len(args) == 1 {
				f.Prefix = args[0]
			}
			if len(tags) > 0 {
				f.Tags = tags
			}
			s, err := c.open()
			if err != nil {
				return err
			}
			defer s.Close()
			ms, err := s.p.ListSecrets(c.ctx, f)
			bad, err := c.skipUnreadable("list", err)
			if err != nil {
				return err
			}
			ms = underPrefix(ms, f.Prefix)
			if err := c.writeList(ms); err != nil {
				return err
			}
			return damaged("list", bad, "record")
		}
	},
}

// inPrefix reports whether path is prefix or lies under it: a prefix
// matches whole segments ("staging" and "staging/" mean staging and
// staging/…, never staging2/…). The empty prefix matches every path.
func inPrefix(path, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	return prefix == "" || path == prefix || strings.HasPrefix(path, prefix+"/")
}

// underPrefix keeps the secrets in prefix (see inPrefix). The library's
// ListFilter.Prefix matches any string prefix; ass lists by segments.
func underPrefix(ms []agentvault.SecretMetadata, prefix string) []agentvault.SecretMetadata {
	return slices.DeleteFunc(ms, func(m agentvault.SecretMetadata) bool { return !inPrefix(m.Path, prefix) })
}

// writeList prints list's output.
func (c *cli) writeList(ms []agentvault.SecretMetadata) error {
	if c.g.json {
		out := make([]secretJSON, len(ms))
		for i := range ms {
			out[i] = toSecretJSON(&ms[i], nil)
		}
		return writeJSON(c.stdout, out)
	}
	if len(ms) == 0 {
		_, err := fmt.Fprintln(c.stdout, "no secrets")
		return err
	}
	now := time.Now()
	rows := make([][]string, len(ms))
	for i, m := range ms {
		rows[i] = []string{m.Path, string(m.Type), string(m.Tier), m.Version,
			formatTime(m.UpdatedAt), formatExpiry(m.ExpiresAt, now)}
	}
	return writeTable(c.stdout, []string{"PATH", "TYPE", "TIER", "VERSION", "UPDATED", "EXPIRES"}, rows)
}
