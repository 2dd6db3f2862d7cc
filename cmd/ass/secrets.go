package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/agentvault/agentvault"
)

const valueHelp = `VALUE "-" or omitted: the value is read from standard input (up to 64 KiB;
one trailing "\n" or "\r\n" is removed unless --raw is given). From a terminal
it is read without echo until Ctrl-D, so a value may span several lines (a
PEM key): paste it, press Enter, then Ctrl-D. An empty value is refused
(exit 2) unless --allow-empty. Prefer stdin: a VALUE argument is visible to
other users in the process list and stays in shell history. Put "--" before
a VALUE that starts with "-".`

var setCommand = &command{
	name:      "set",
	withToken: true,
	args:      "PATH [VALUE|-]",
	summary:   "store a secret, or a new version of an existing one",
	details: `Creates the secret at PATH as v1, or, if it exists, stores VALUE as its next
version (max+1) and makes that active. Metadata flags apply in both cases;
--tag adds to (or changes) the existing tags. Prints "created PATH v1" or
"updated PATH v2"; --json prints the metadata of get --json without
"value", with "status": "created" or "updated".

` + valueHelp,
	minArgs: 1, maxArgs: 2, secretArgs: true,
	define: func(fs *flag.FlagSet) func(*cli, []string) error { return defineStore(fs, false) },
}

var createCommand = &command{
	name:      "create",
	withToken: true,
	args:      "PATH [VALUE|-]",
	summary:   "store a new secret; fails if one exists at PATH",
	details: `Like set, but fails (exit 1, "already exists") when a secret exists at PATH.

` + valueHelp,
	minArgs: 1, maxArgs: 2, secretArgs: true,
	define: func(fs *flag.FlagSet) func(*cli, []string) error { return defineStore(fs, true) },
}

// defineStore registers the flags of set (create false) or create.
func defineStore(fs *flag.FlagSet, create bool) func(*cli, []string) error {
	var sf secretFlags
	sf.add(fs)
	raw := fs.Bool("raw", false, "keep a trailing newline of a value read from stdin")
	allowEmpty := fs.Bool("allow-empty", false, "store an empty value (refused otherwise)")
	return func(c *cli, args []string) error {
		op := "set"
		if create {
			op = "create"
		}
		path := args[0]
		if err := checkPathQuietly(path); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if err := checkExpiry(c.set, "expires-in", "expires-at"); err != nil {
			return &usageError{msg: err.Error()}
		}
		var value []byte
		if len(args) == 2 && args[1] != "-" {
			value = []byte(args[1])
		} else {
			v, err := c.readValue(*raw)
			if err != nil {
				return fmt.Errorf("%s %s: %w", op, path, err)
			}
			value = v
		}
		defer clear(value)
		if err := checkValue(value, *allowEmpty); err != nil {
			return err
		}

		s, err := c.open()
		if err != nil {
			return err
		}
		defer s.Close()
		in := agentvault.CreateSecretInput{
			Path: path, Value: agentvault.NewValue(value),
			Type: agentvault.SecretType(sf.typ), Tier: agentvault.AccessTier(sf.tier),
			Description: sf.description, ExpiresAt: sf.expiresAt.t, ExpiresIn: time.Duration(sf.expiresIn),
		}
		if len(sf.tags) > 0 {
			in.Tags = sf.tags
		}
		var m *agentvault.SecretMetadata
		created := true
		if create {
			sec, err := s.p.CreateSecret(c.ctx, in)
			if err != nil {
				return err
			}
			m = &sec.SecretMetadata
		} else {
			m, created, err = upsert(c.ctx, s.p, in, c.set)
			if err != nil {
				return err
			}
		}
		verb := "created"
		if !created {
			verb = "updated"
		}
		if c.g.json {
			out := toSecretJSON(m, nil)
			out.Status = verb
			return writeJSON(c.stdout, out)
		}
		if _, err := fmt.Fprintf(c.stdout, "%s %s %s\n", verb, m.Path, m.Version); err != nil {
			return err
		}
		if m.Expired(time.Now()) {
			fmt.Fprintf(c.stderr, "ass: note: %s expired at %s: its value is not served until the expiry is extended (ass update %s --expires-in DUR, or --no-expiry)\n",
				m.Path, formatTime(m.ExpiresAt), m.Path)
		}
		return nil
	}
}

// upsert adds a version to the secret at in.Path, or creates it. The
// metadata flags given (set) apply either way; tags are merged into the
// existing ones.
func upsert(ctx context.Context, v principal, in agentvault.CreateSecretInput, set map[string]bool) (*agentvault.SecretMetadata, bool, error) {
	up := agentvault.UpdateSecretInput{Value: &in.Value, Type: in.Type, Tier: in.Tier, ExpiresIn: in.ExpiresIn}
	if set["description"] {
		up.Description = &in.Description
	}
	if set["expires-at"] {
		up.ExpiresAt = &in.ExpiresAt
	}
	var err error
	// Look first (GetMetadata is not audited), so that a new path leaves
	// one secret.created event and an existing one one secret.updated.
	// Another writer may create or delete the secret between our calls:
	// an update that finds none creates it, a create that finds one goes
	// round again to update it. Two rounds settle such a race; a third is
	// for luck.
	for range 3 {
		var m *agentvault.SecretMetadata
		m, err = v.GetMetadata(ctx, in.Path)
		switch {
		case err == nil:
			if len(in.Tags) > 0 {
				up.Tags = mergeTags(m.Tags, in.Tags)
			}
			m, err = v.UpdateSecret(ctx, in.Path, up)
			if err == nil {
				return m, false, nil
			}
			if !errors.Is(err, agentvault.ErrNotFound) {
				return nil, false, err
			}
			// Deleted since we looked: create it.
		case !errors.Is(err, agentvault.ErrNotFound):
			return nil, false, err
		}
		up.Tags = nil
		var sec *agentvault.Secret
		sec, err = v.CreateSecret(ctx, in)
		if err == nil {
			return &sec.SecretMetadata, true, nil
		}
		if !errors.Is(err, agentvault.ErrAlreadyExists) {
			return nil, false, err
		}
	}
	return nil, false, err
}

// metadataOf returns the metadata of the secret at path, expired or not,
// with GetMetadata (not audited); an error names op, not "metadata".
func metadataOf(ctx context.Context, v principal, op, path string) (*agentvault.SecretMetadata, error) {
	m, err := v.GetMetadata(ctx, path)
	var ae *agentvault.Error
	if err != nil && errors.As(err, &ae) {
		e := *ae
		e.Op = op
		return nil, &e
	}
	return m, err
}

func mergeTags(old, add map[string]string) map[string]string {
	out := make(map[string]string, len(old)+len(add))
	maps.Copy(out, old)
	maps.Copy(out, add)
	return out
}

// checkPathQuietly validates a path given beside a secret value without
// ever echoing it: a string that is not a path may be a value pasted in
// the wrong place.
func checkPathQuietly(p string) error {
	err := agentvault.ValidatePath(p)
	if err == nil {
		return nil
	}
	if len(p) <= agentvault.MaxPathLen {
		for i, seg := range strings.Split(p, "/") {
			if agentvault.ValidatePath(seg) != nil {
				return inputError{fmt.Errorf(`invalid path: segment %d is empty, "." or "..", or has a character other than A-Z a-z 0-9 . _ - (the path is not shown in case it is a value)`, i+1)}
			}
		}
	}
	// Too long or too many segments: the library's message shows no path text.
	return inputError{errors.New(strings.TrimPrefix(err.Error(), "agentvault: "))}
}

// readValue reads a secret value from stdin, up to the value size limit:
// from a terminal without echo until end of input (Ctrl-D), otherwise
// until EOF; either way one trailing newline is removed unless raw.
func (c *cli) readValue(raw bool) ([]byte, error) {
	const limit = agentvault.DefaultMaxValueSize
	src := "stdin"
	if c.stdinTTY {
		restore, err := c.terminalSetup()
		if err != nil {
			return nil, fmt.Errorf("read value from terminal: %w", err)
		}
		defer restore()
		src = "the terminal"
	}
	// Read up to 3 bytes beyond the limit: a value of exactly the limit
	// may be followed by "\r\n", and anything longer is too large.
	b, err := io.ReadAll(io.LimitReader(c.stdin, limit+3))
	if c.stdinTTY {
		fmt.Fprintln(c.stderr)
	}
	if err != nil {
		clear(b)
		return nil, fmt.Errorf("read value from %s: %w", src, err)
	}
	tooLarge := inputError{fmt.Errorf("value read from %s is larger than the limit of %d bytes", src, limit)}
	if len(b) > limit+2 {
		clear(b)
		return nil, tooLarge
	}
	if !raw {
		if n := len(b); n >= 2 && b[n-2] == '\r' && b[n-1] == '\n' {
			b = b[:n-2]
		} else if n >= 1 && b[n-1] == '\n' {
			b = b[:n-1]
		}
	}
	if len(b) > limit {
		clear(b)
		return nil, tooLarge
	}
	return b, nil
}

// terminalPrompt is shown on stderr before a value is read from a terminal.
const terminalPrompt = "value (not echoed; several lines allowed, such as a PEM key: end with Enter, then Ctrl-D; Ctrl-C cancels):\n"

// terminalSetup prepares reading a value from the terminal on stdin: echo
// off (an interrupt turns it back on before exiting) and the prompt on
// stderr. restore turns echo back on.
func (c *cli) terminalSetup() (restore func(), err error) {
	off := c.echoOff
	if off == nil {
		off = echoOff
	}
	on, err := off(c.stdinFD)
	if err != nil {
		return nil, err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			on()
			fmt.Fprintln(c.stderr)
			fmt.Fprintln(c.stderr, "ass: interrupted")
			os.Exit(130)
		case <-done:
		}
	}()
	fmt.Fprint(c.stderr, terminalPrompt)
	return func() {
		signal.Stop(sigs)
		close(done)
		on()
	}, nil
}

// checkValue refuses an empty value unless allowEmpty: an empty value is
// almost always a mistake (an unset variable, an empty pipe).
func checkValue(value []byte, allowEmpty bool) error {
	if len(value) == 0 && !allowEmpty {
		return usagef("the value is empty (an empty pipe or variable?); give --allow-empty to store an empty value")
	}
	return nil
}

var getCommand = &command{
	name:      "get",
	withToken: true,
	args:      "PATH",
	summary:   "print a secret's value",
	details: `Prints the active version's value to stdout, byte for byte (a newline is
added only when stdout is a terminal). --version reads an earlier version,
or "previous": the version a rotation with --grace replaced, until its grace
ends (see "ass help rotate"). An expired secret is refused (exit 4) at every
version.

With --json, prints the value with the metadata:
{"path","value","version","type","tier","tags","description","created_by",
"created_at","updated_at","expires_at","expired"}. A value that is not UTF-8 text
cannot be shown in JSON: get it without --json.

` + tokenHelp,
	minArgs: 1, maxArgs: 1,
	define: func(fs *flag.FlagSet) func(*cli, []string) error {
		ver := fs.String("version", "", "read version `vN` (or \"previous\") instead of the active one")
		return func(c *cli, args []string) error {
			path := args[0]
			var opts []agentvault.GetOption
			if *ver != "" {
				opts = append(opts, agentvault.AtVersion(normaliseVersion(*ver)))
			}
			s, err := c.open()
			if err != nil {
				return err
			}
			defer s.Close()
			sec, err := s.p.GetSecret(c.ctx, path, opts...)
			if err != nil {
				if *ver != "" {
					return versioned{err}
				}
				return err
			}
			value := sec.Value.Bytes()
			defer clear(value)
			if c.g.json {
				if !utf8.Valid(value) {
					return fmt.Errorf("get %s: the value is not UTF-8 text and cannot be shown in JSON (get it without --json)", path)
				}
				str := string(value)
				return writeJSON(c.stdout, toSecretJSON(&sec.SecretMetadata, &str))
			}
			if _, err := c.stdout.Write(value); err != nil {
				return fmt.Errorf("get %s: write stdout: %w", path, err)
			}
			if c.stdoutTTY {
				_, _ = io.WriteString(c.stdout, "\n")
			}
			return nil
		}
	},
}

// normaliseVersion accepts "3" for "v3".
func normaliseVersion(v string) string {
	if v != "" && strings.Trim(v, "0123456789") == "" {
		return "v" + v
	}
	return v
}

var updateCommand = &command{
	name:      "update",
	withToken: true,
	args:      "PATH",
	summary:   "change a secret's metadata (creates no version)",
	details: `Changes tags, description, tier, type or expiry; the value and versions are
untouched (use set for a new value). --tag adds to (or changes) the existing
tags; --clear-tags removes them all first. At least one flag is required.
--no-expiry removes the expiry; an expired secret is served again once its
expiry is extended or removed.`,
	minArgs: 1, maxArgs: 1,
	define: func(fs *flag.FlagSet) func(*cli, []string) error {
		tags := tagsFlag{}
		var typ typeFlag
		var tier tierFlag
		var expiresIn durationFlag
		var expiresAt timeFlag
		fs.Var(tags, "tag", "add or change tag `KEY=VALUE` (repeatable)")
		clearTags := fs.Bool("clear-tags", false, "remove every tag (before applying --tag)")
		description := fs.String("description", "", "set the description to `TEXT` (\"\" clears it)")
		fs.Var(&tier, "tier", "set the access `TIER`: standard, sensitive or critical")
		fs.Var(&typ, "type", "set the secret `TYPE`: "+typeNames())
		fs.Var(&expiresIn, "expires-in", "expire `DURATION` from now: 90d, 36h, 15m …")
		fs.Var(&expiresAt, "expires-at", "expire at `TIME` (RFC 3339)")
		noExpiry := fs.Bool("no-expiry", false, "remove the expiry")
		return func(c *cli, args []string) error {
			path := args[0]
			given := false
			for _, n := range []string{"tag", "clear-tags", "description", "tier", "type", "expires-in", "expires-at", "no-expiry"} {
				given = given || c.set[n]
			}
			if !given {
				return usagef("nothing to update: give --tag, --clear-tags, --description, --tier, --type, --expires-in, --expires-at or --no-expiry")
			}
			if err := checkExpiry(c.set, "expires-in", "expires-at", "no-expiry"); err != nil {
				return &usageError{msg: err.Error()}
			}
			in := agentvault.UpdateSecretInput{
				Type: agentvault.SecretType(typ), Tier: agentvault.AccessTier(tier),
				ExpiresIn: time.Duration(expiresIn), ClearExpiry: *noExpiry,
			}
			if c.set["description"] {
				in.Description = description
			}
			if c.set["expires-at"] {
				in.ExpiresAt = &expiresAt.t
			}
			s, err := c.open()
			if err != nil {
				return err
			}
			defer s.Close()
			if *clearTags || len(tags) > 0 {
				base := map[string]string{}
				if !*clearTags {
					m, err := metadataOf(c.ctx, s.p, "update", path)
					if err != nil {
						return err
					}
					base = m.Tags
				}
				in.Tags = mergeTags(base, tags)
			}
			m, err := s.p.UpdateSecret(c.ctx, path, in)
			if err != nil {
				return err
			}
			if c.g.json {
				return writeJSON(c.stdout, toSecretJSON(m, nil))
			}
			_, err = fmt.Fprintf(c.stdout, "updated %s (metadata only; active version %s)\n", m.Path, m.Version)
			return err
		}
	},
}

var deleteCommand = &command{
	name:      "delete",
	withToken: true,
	args:      "PATH",
	summary:   "delete a secret and all its versions",
	details:   `Permanently deletes the secret at PATH and every version of it.`,
	minArgs:   1, maxArgs: 1,
	define: func(*flag.FlagSet) func(*cli, []string) error {
		return func(c *cli, args []string) error {
			path := args[0]
			s, err := c.open()
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.p.DeleteSecret(c.ctx, path); err != nil {
				return err
			}
			if c.g.json {
				return writeJSON(c.stdout, map[string]any{"path": path, "deleted": true})
			}
			_, err = fmt.Fprintf(c.stdout, "deleted %s\n", path)
			return err
		}
	},
}

// prefixed names the command in an error that does not already say what
// failed.
func prefixed(op string, err error) error {
	var ue *usageError
	var nv *noVaultError
	if _, ok := err.(*agentvault.Error); ok || errors.As(err, &ue) || errors.As(err, &nv) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}
