package main

import (
	"flag"
	"fmt"
)

var versionsCommand = &command{
	name:    "versions",
	args:    "PATH",
	summary: "list a secret's versions",
	details: `Lists every stored version of the secret at PATH, oldest first, in columns
VERSION CREATED_AT CREATED_BY ACTIVE. Works on expired secrets too.

With --json: [{"version","created_at","created_by","is_active"}].`,
	minArgs: 1, maxArgs: 1,
	define: func(*flag.FlagSet) func(*cli, []string) error {
		return func(c *cli, args []string) error {
			s, err := c.open()
			if err != nil {
				return err
			}
			defer s.Close()
			vs, err := s.vault.ListVersions(c.ctx, args[0])
			if err != nil {
				return err
			}
			if c.g.json {
				out := make([]versionJSON, len(vs))
				for i, v := range vs {
					out[i] = versionJSON{Version: v.Version, CreatedAt: v.CreatedAt.UTC(), CreatedBy: v.CreatedBy, IsActive: v.IsActive}
				}
				return writeJSON(c.stdout, out)
			}
			rows := make([][]string, len(vs))
			for i, v := range vs {
				active := "no"
				if v.IsActive {
					active = "yes"
				}
				rows[i] = []string{v.Version, formatTime(v.CreatedAt), v.CreatedBy, active}
			}
			return writeTable(c.stdout, []string{"VERSION", "CREATED_AT", "CREATED_BY", "ACTIVE"}, rows)
		}
	},
}

var rollbackCommand = &command{
	name:    "rollback",
	args:    "PATH vN",
	summary: "make an earlier version active again",
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
			m, err := s.vault.Rollback(c.ctx, path, ver)
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
