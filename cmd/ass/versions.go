package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/agentvault/agentvault"
)

var versionsCommand = &command{
	name:      "versions",
	withToken: true,
	args:      "PATH",
	summary:   "list a secret's versions",
	details: `Lists every version of the secret at PATH, oldest first, in columns
VERSION CREATED_AT CREATED_BY ACTIVE STATE. STATE is "active"; "previous
(grace until TIME)" for the version a rotation with --grace replaced, readable
as "ass get PATH --version previous" until then ("previous (grace ended
TIME)" once it has ended); "pruned" for a version the retention policy
removed (no value is kept; CREATED_AT and CREATED_BY are "-"); or
"inactive". Works on expired secrets too.

With --json: [{"version","created_at","created_by","is_active","is_previous",
"grace_ends_at","pruned"}], where created_at and grace_ends_at may be null.`,
	minArgs: 1, maxArgs: 1,
	define: func(*flag.FlagSet) func(*cli, []string) error {
		return func(c *cli, args []string) error {
			s, err := c.open()
			if err != nil {
				return err
			}
			defer s.Close()
			vs, err := s.p.ListVersions(c.ctx, args[0])
			if err != nil {
				return err
			}
			if c.g.json {
				out := make([]versionJSON, len(vs))
				for i := range vs {
					out[i] = toVersionJSON(&vs[i])
				}
				return writeJSON(c.stdout, out)
			}
			now := s.vault.Now()
			rows := make([][]string, len(vs))
			for i, v := range vs {
				active := "no"
				if v.IsActive {
					active = "yes"
				}
				rows[i] = []string{v.Version, formatTime(v.CreatedAt), v.CreatedBy, active, versionState(&v, now)}
			}
			return writeTable(c.stdout, []string{"VERSION", "CREATED_AT", "CREATED_BY", "ACTIVE", "STATE"}, rows)
		}
	},
}

// versionState is a version's STATE cell.
func versionState(v *agentvault.VersionInfo, now time.Time) string {
	switch {
	case v.IsActive:
		return "active"
	case v.Pruned:
		return "pruned"
	case v.IsPrevious && now.Before(v.GraceEndsAt):
		return "previous (grace until " + formatTime(v.GraceEndsAt) + ")"
	case v.IsPrevious:
		return "previous (grace ended " + formatTime(v.GraceEndsAt) + ")"
	}
	return "inactive"
}

var rollbackCommand = &command{
	name:      "rollback",
	withToken: true,
	args:      "PATH vN",
	summary:   "make an earlier version active again",
	details: `Makes version vN of the secret at PATH the active one. Nothing is
re-encrypted and no version is removed: the next set creates version max+1.`,
	minArgs: 2, maxArgs: 2,
	define: func(*flag.FlagSet) func(*cli, []string) error {
		return func(c *cli, args []string) error {
			path, ver := args[0], normaliseVersion(args[1])
			s, err := c.open()
			if err != nil {
				return err
			}
			defer s.Close()
			m, err := s.p.Rollback(c.ctx, path, ver)
			if err != nil {
				return versioned{err}
			}
			if c.g.json {
				return writeJSON(c.stdout, toSecretJSON(m, nil))
			}
			_, err = fmt.Fprintf(c.stdout, "rolled back %s to %s\n", m.Path, m.Version)
			return err
		}
	},
}
