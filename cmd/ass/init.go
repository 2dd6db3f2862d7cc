package main

import (
	"flag"
	"fmt"
)

var initCommand = &command{
	name:    "init",
	summary: "create the vault: a file store and a local key in $ASS_HOME",
	details: `Creates $ASS_HOME (default ~/.agentvault, mode 0700) with the file store
($ASS_HOME/store) and a new random local key ($ASS_HOME/key, mode 0600), and
opens the vault once to create its configuration. Keep the key file safe and
apart from backups of the store: without it nothing can be decrypted; with it
and the store, everything can.

Running init again changes nothing and says the vault is already initialised.

With --backend or --kms, init opens (creating if needed) the vault there, and
generates the key file if a local:// key file is missing.`,
	maxArgs: 0,
	define: func(*flag.FlagSet) func(*cli, []string) error {
		return runInit
	},
}

// initJSON is "ass init --json".
type initJSON struct {
	Status  string `json:"status"` // "created" or "already_initialised"
	Home    string `json:"home"`
	Backend string `json:"backend"`
	KMS     string `json:"kms"`
	KeyID   string `json:"key_id"`
}

func runInit(c *cli, _ []string) error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	s, err := openVault(c.ctx, cfg, true)
	if err != nil {
		return prefixed("init", err)
	}
	defer s.Close()
	out := initJSON{
		Status: "created", Home: cfg.home,
		Backend: redactURL(cfg.backend), KMS: redactURL(cfg.kms), KeyID: s.keys.KeyID(),
	}
	if s.existed {
		out.Status = "already_initialised"
	}
	if c.g.json {
		return writeJSON(c.stdout, out)
	}
	isDefault := cfg.backend == cfg.defaultBackend && cfg.kms == cfg.defaultKMS
	switch {
	case s.existed && isDefault:
		_, err = fmt.Fprintf(c.stdout, "already initialised: vault at %s (nothing changed)\n", cfg.home)
		return err
	case s.existed:
		_, err = fmt.Fprintf(c.stdout, "already initialised: vault in %s (nothing changed)\n", out.Backend)
		return err
	case isDefault:
		_, err = fmt.Fprintf(c.stdout, "initialised a new vault at %s\n", cfg.home)
	default:
		_, err = fmt.Fprintln(c.stdout, "initialised a new vault")
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "  store: %s\n  key:   %s (key id %s)\n", out.Backend, out.KMS, out.KeyID)
	if err == nil && cfg.backend == "mem://" {
		_, err = fmt.Fprintln(c.stdout, "  (mem:// is ephemeral: nothing is kept after this command)")
	}
	return err
}
