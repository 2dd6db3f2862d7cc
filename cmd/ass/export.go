package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/envfile"
)

var exportCommand = &command{
	name:      "export",
	withToken: true,
	summary:   "write a namespace's secrets as a .env file",
	details: `Writes each secret NS/NAME directly under --namespace NS as the variable NAME,
sorted by name, quoted where needed so that "ass import" reads back exactly
the same values: import then export round-trips the variables.

The file is safe to source ("set -a; . ./prod.env" in sh, dash, bash or
zsh) whatever the secrets hold: values are single-quoted (a ' written as
'\''), so a shell expands nothing and runs nothing, and reads the values
exactly. The one exception is a value holding a carriage return: it is
double-quoted with the CR written as \r, which a shell reads as a backslash
and an r (still expanding nothing).

Skipped, with a warning on stderr: secrets in subfolders (NS/a/b), names that
are not shell variable names (A-Z a-z 0-9 _, not starting with a digit; a
shell would take a line like "a.b=1" for a command), expired secrets, and
values a .env file cannot hold (not UTF-8 text, or holding a NUL byte).

Writes to stdout, or with --output to FILE: atomically (a temporary file in
the same directory, synced, then renamed) with mode 0600, never replacing an
existing FILE unless --force. The file holds the secrets in clear text: keep
it private and delete it when done.`,
	maxArgs: 0,
	define: func(fs *flag.FlagSet) func(*cli, []string) error {
		ns := &namespacesFlag{single: true}
		fs.Var(ns, "namespace", "export the secrets directly under `NS` (required)")
		output := fs.String("output", "", "write to `FILE` (mode 0600) instead of stdout")
		force := fs.Bool("force", false, "replace --output FILE if it exists")
		return func(c *cli, _ []string) error {
			if len(ns.list) == 0 {
				return usagef("--namespace is required (e.g. --namespace production)")
			}
			if c.g.json {
				return usagef("--json does not apply: export writes a .env file")
			}
			namespace := ns.list[0]
			toFile := *output != "" && *output != "-"
			if toFile && !*force {
				if _, err := os.Lstat(*output); err == nil {
					return fmt.Errorf("export: %s exists (use --force to replace it)", *output)
				}
			}
			s, err := c.open()
			if err != nil {
				return err
			}
			defer s.Close()
			entries, _, skipped, err := readNamespace(c, s.p, namespace, true, false)
			if err != nil {
				return err
			}
			data, err := envfile.Format(entries)
			if err != nil {
				return fmt.Errorf("export: %w", err) // readNamespace keeps only values Format accepts
			}
			defer clear(data)
			if toFile {
				err = writeFileAtomic(*output, data, *force)
			} else {
				_, err = c.stdout.Write(data)
			}
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			skipped.report(c, "export", true)
			if toFile {
				_, err = fmt.Fprintf(c.stdout, "Exported %s from %s to %s\n", plural(len(entries), "variable"), namespace, *output)
			}
			if err != nil {
				return err
			}
			return damaged("export", len(skipped.unreadable), "record")
		}
	},
}

// skippedSecrets are the secrets under a namespace that export and run
// leave out, by reason.
type skippedSecrets struct {
	deeper  []string // NS/a/b: not directly under NS
	badName []string // NS/1x: not a variable name
	expired []string // expired (listed with the time)
	notText []string // a value .env (or the environment) cannot hold
	// unreadable: records that fail their integrity check (one warning
	// line each; export exits 7, run refuses to start the command)
	unreadable []string
	text       bool // values must be UTF-8 text (a .env file), not only free of NUL bytes (the environment)
}

// readNamespace returns the variables of the secrets directly under
// namespace, sorted by name, and what it skipped. Values hold no NUL byte,
// as the process environment needs; with text (a .env file to source),
// values are valid UTF-8, as envfile.Format needs, and names are shell
// variable names.
//
// paths[i] is the secret entries[i] came from: NS/NAME, or with recursive
// (ass run --recursive) NS/A/B for the variable A_B (see recursiveName).
func readNamespace(c *cli, v principal, namespace string, text, recursive bool) (entries []envfile.Entry, paths []string, sk *skippedSecrets, err error) {
	ms, err := v.ListSecrets(c.ctx, agentvault.ListFilter{Prefix: namespace + "/"})
	var ue *agentvault.UnreadableError
	if err != nil && !errors.As(err, &ue) {
		return nil, nil, nil, err
	}
	now := v.Now()
	sk = &skippedSecrets{text: text}
	if ue != nil {
		sk.unreadable = append(sk.unreadable, ue.Paths...)
	}
	for _, m := range ms { // sorted by path, so by name
		name := strings.TrimPrefix(m.Path, namespace+"/")
		if recursive {
			name = recursiveName(name)
		}
		switch {
		case strings.Contains(name, "/"):
			sk.deeper = append(sk.deeper, m.Path)
			continue
		case !envfile.ValidKey(name) || (text && !shellName(name)):
			sk.badName = append(sk.badName, m.Path)
			continue
		case m.Expired(now):
			sk.expired = append(sk.expired, m.Path+" (expired "+formatTime(m.ExpiresAt)+")")
			continue
		}
		sec, err := v.GetSecret(c.ctx, m.Path)
		switch {
		case errors.Is(err, agentvault.ErrExpired):
			sk.expired = append(sk.expired, m.Path)
			continue
		case errors.Is(err, agentvault.ErrNotFound):
			continue // deleted since the listing
		case errors.Is(err, agentvault.ErrIntegrity):
			sk.unreadable = append(sk.unreadable, m.Path)
			continue
		case err != nil:
			return entries, paths, nil, err
		}
		value := sec.Value.Bytes()
		if bytes.IndexByte(value, 0) >= 0 || (text && !utf8.Valid(value)) {
			clear(value)
			sk.notText = append(sk.notText, m.Path)
			continue
		}
		entries = append(entries, envfile.Entry{Key: name, Value: string(value)})
		paths = append(paths, m.Path)
		clear(value)
	}
	return entries, paths, sk, nil
}

// recursiveName is the variable for the secret NS/REL under ass run
// --recursive: REL with each "/" replaced by "_" (NS/DB/PASSWORD is
// DB_PASSWORD). It must then be a variable name like any other.
func recursiveName(rel string) string { return strings.ReplaceAll(rel, "/", "_") }

// skippedDirect reports whether a secret directly under the namespace was
// skipped.
func (sk *skippedSecrets) skippedDirect() bool {
	return len(sk.badName)+len(sk.expired)+len(sk.notText)+len(sk.unreadable) > 0
}

// report writes one warning line per kind of skipped secret to stderr;
// with all false, only for the secrets skipped because of their expiry or
// value, not for their path.
func (sk *skippedSecrets) report(c *cli, op string, all bool) {
	warn := func(paths []string, why string) {
		if len(paths) == 0 {
			return
		}
		const show = 10
		list := strings.Join(paths[:min(len(paths), show)], ", ")
		if len(paths) > show {
			list += fmt.Sprintf(" and %d more", len(paths)-show)
		}
		fmt.Fprintf(c.stderr, "ass: warning: %s: skipped %s %s: %s\n", op, plural(len(paths), "secret"), why, oneLine(list))
	}
	if all {
		warn(sk.deeper, "in subfolders of the namespace")
		warn(sk.badName, "whose name is not a variable name")
	}
	for _, p := range sk.unreadable {
		c.warnUnreadable(op, p)
	}
	warn(sk.expired, "that expired")
	if sk.text {
		warn(sk.notText, "whose value is not UTF-8 text without NUL bytes")
	} else {
		warn(sk.notText, "whose value holds a NUL byte")
	}
}

// writeFileAtomic writes data to path with mode 0600: to a temporary file
// in the same directory, synced, then renamed (force) or linked (never
// replacing an existing path) into place, and the directory synced.
func writeFileAtomic(path string, data []byte, force bool) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer func() {
		if tmp != nil {
			_ = tmp.Close()
		}
		_ = os.Remove(name) // after a rename: already gone; after a link: the extra name
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	err = tmp.Close()
	tmp = nil
	if err != nil {
		return err
	}
	if force {
		err = os.Rename(name, path)
	} else if err = os.Link(name, path); errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists (use --force to replace it)", path)
	} else if err != nil {
		// No hard links here (some network and FAT file systems): check,
		// then rename, which is not atomic against a concurrent writer.
		if _, serr := os.Lstat(path); serr == nil {
			return fmt.Errorf("%s exists (use --force to replace it)", path)
		}
		err = os.Rename(name, path)
	}
	if err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
