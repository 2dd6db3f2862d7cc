package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/term"

	"github.com/agentvault/agentvault"
)

// Approvers who sign with their SSH keys (ass approvers), and the signing
// side of ass approvals approve, deny and cancel.

// listFlag collects a repeatable flag's values.
type listFlag []string

func (f *listFlag) String() string { return strings.Join(*f, " ") }

func (f *listFlag) Set(s string) error { *f = append(*f, s); return nil }

const maxKeyFile = 64 << 10

var approversCommand = &command{
	name:    "approvers",
	args:    "add NAME --key PUBKEY_FILE [--group G] | list | remove NAME",
	summary: "register the people who approve token requests by signing with their SSH keys",
	details: `ass approvers add NAME --key PUBKEY_FILE [--key …] [--group G …]
    Registers an approver with the SSH public keys in PUBKEY_FILE (an .pub
    or authorized_keys file: ssh-ed25519, ecdsa-sha2-nistp256/384/521, or
    ssh-rsa of 3072 bits or more). Once any approver is registered, every
    approval and denial must be signed by one (ass approvals approve).
ass approvers list
    NAME GROUPS FINGERPRINTS, one approver a line.
ass approvers remove NAME
    Unregisters an approver: signatures by its keys are refused from then
    on, and its approvals of requests not yet redeemed no longer count.

Administrative: not with a token or ASS_AGENT_KEY. --json: list prints an
array of approvers, add the approver added.`,
	minArgs: 1, maxArgs: 2,
	define: func(fs *flag.FlagSet) func(*cli, []string) error {
		var keys, groups listFlag
		fs.Var(&keys, "key", "read the approver's SSH public keys from `PUBKEY_FILE` (repeatable; add)")
		fs.Var(&groups, "group", "put the approver in group `G` (repeatable; add)")
		return func(c *cli, args []string) error {
			sub, rest := args[0], args[1:]
			var err error
			switch sub {
			case "add", "remove":
				err = subArgs(sub, rest, "NAME")
			case "list":
				err = subArgs(sub, rest, "")
			default:
				return usagef("unknown subcommand %q (want add, list or remove)", truncate(sub, 32))
			}
			if err == nil && sub != "add" {
				err = c.notWith(sub, "key", "group")
			}
			if err == nil && sub == "add" && len(keys) == 0 {
				err = usagef("add needs --key PUBKEY_FILE")
			}
			if err != nil {
				return err
			}
			in := agentvault.ApproverInput{Groups: groups}
			if sub == "add" {
				in.Name = rest[0]
				for _, f := range keys {
					lines, err := readKeyLines(f)
					if err != nil {
						return err
					}
					in.Keys = append(in.Keys, lines...)
				}
			}
			s, err := c.open()
			if err != nil {
				return err
			}
			defer s.Close()
			switch sub {
			case "add":
				a, err := s.vault.AddApprover(c.ctx, in)
				if err != nil {
					return err
				}
				if c.g.json {
					return writeJSON(c.stdout, a)
				}
				_, err = fmt.Fprintf(c.stdout, "approver %s added: %s\n", a.Name, fingerprints(a))
				return err
			case "remove":
				if err := s.vault.RemoveApprover(c.ctx, rest[0]); err != nil {
					return err
				}
				_, err := fmt.Fprintf(c.stdout, "approver %s removed\n", rest[0])
				return err
			}
			return c.listApprovers(s)
		}
	},
}

// readKeyLines reads the public keys of a .pub or authorized_keys file:
// its non-empty lines that are not comments.
func readKeyLines(name string) ([]string, error) {
	b, err := readSmallFile(name, maxKeyFile, "key file")
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil, usagef("key file %s holds no public key", truncate(name, 128))
	}
	return out, nil
}

// readSmallFile reads a file of at most limit bytes.
func readSmallFile(name string, limit int64, what string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", what, truncate(name, 128), err)
	}
	if int64(len(b)) > limit {
		return nil, usagef("%s %s is larger than %d bytes", what, truncate(name, 128), limit)
	}
	return b, nil
}

func fingerprints(a *agentvault.Approver) string {
	fps := make([]string, len(a.Keys))
	for i, k := range a.Keys {
		fps[i] = k.Fingerprint
	}
	return strings.Join(fps, " ")
}

func (c *cli) listApprovers(s *session) (rerr error) {
	as, err := s.vault.ListApprovers(c.ctx)
	bad, err := c.skipUnreadable("approvers list", err)
	if err != nil {
		return err
	}
	defer func() {
		if rerr == nil {
			rerr = damaged("approvers list", bad, "record")
		}
	}()
	if c.g.json {
		return writeJSON(c.stdout, as)
	}
	if len(as) == 0 {
		_, err := fmt.Fprintln(c.stdout, "no approvers registered: approvals are named by --actor, unsigned")
		return err
	}
	rows := make([][]string, len(as))
	for i := range as {
		g := strings.Join(as[i].Groups, ",")
		if g == "" {
			g = "-"
		}
		rows[i] = []string{as[i].Name, g, fingerprints(&as[i])}
	}
	return writeTable(c.stdout, []string{"NAME", "GROUPS", "FINGERPRINTS"}, rows)
}

// hintError adds advice to a library error, keeping it for errors.Is.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return describe(e.err) + e.hint }
func (e *hintError) Unwrap() error { return e.err }

// signature returns the signature for decision d on request id: read
// from --signature, made with --key, or made through ssh-agent with the
// registered key it holds. nil (unsigned) when none of these applies: the
// library then takes the caller's name if no approvers are registered.
func (c *cli) signature(s *session, id string, d agentvault.Decision, sigFile, keyFile string) ([]byte, error) {
	switch {
	case sigFile != "":
		return readSmallFile(sigFile, agentvault.MaxSignatureLen, "signature file")
	case keyFile != "":
		signer, err := c.fileSigner(keyFile)
		if err != nil {
			return nil, err
		}
		return c.signWith(s, id, d, signer)
	}
	sock := c.getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, nil
	}
	approvers, err := s.vault.ListApprovers(c.ctx)
	if err != nil && !errors.Is(err, agentvault.ErrIntegrity) {
		return nil, err
	}
	if len(approvers) == 0 {
		return nil, nil
	}
	signer, conn, err := c.agentSigner(sock, approvers)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return c.signWith(s, id, d, signer)
}

func (c *cli) signWith(s *session, id string, d agentvault.Decision, signer ssh.Signer) ([]byte, error) {
	st, err := s.vault.ApprovalStatement(c.ctx, id, d)
	if err != nil {
		return nil, err
	}
	return agentvault.SignStatement(st, signer)
}

// fileSigner reads a private key file, asking for its passphrase on the
// terminal when it has one.
func (c *cli) fileSigner(name string) (ssh.Signer, error) {
	pem, err := readSmallFile(name, maxKeyFile, "key file")
	if err != nil {
		return nil, err
	}
	defer clear(pem)
	signer, err := ssh.ParsePrivateKey(pem)
	var pm *ssh.PassphraseMissingError
	if errors.As(err, &pm) {
		if !c.stdinTTY {
			return nil, fmt.Errorf("key file %s is protected by a passphrase and stdin is not a terminal: run ass on a terminal, or add the key to ssh-agent", truncate(name, 128))
		}
		fmt.Fprintf(c.stderr, "passphrase for %s: ", truncate(name, 128))
		pass, rerr := term.ReadPassword(c.stdinFD)
		fmt.Fprintln(c.stderr)
		if rerr != nil {
			return nil, fmt.Errorf("read passphrase: %w", rerr)
		}
		defer clear(pass)
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, pass)
	}
	if err != nil {
		return nil, fmt.Errorf("key file %s: not a private key this passphrase opens (%s)", truncate(name, 128), strings.TrimPrefix(err.Error(), "ssh: "))
	}
	return signer, nil
}

// agentSigner picks, among the keys ssh-agent holds, the one of a
// registered approver: the only one, or the one of the approver named
// --actor when the agent holds several approvers' keys.
func (c *cli) agentSigner(sock string, approvers []agentvault.Approver) (_ ssh.Signer, _ io.Closer, err error) {
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, nil, fmt.Errorf("ssh-agent (SSH_AUTH_SOCK): %w", err)
	}
	defer func() {
		if err != nil {
			conn.Close()
		}
	}()
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		return nil, nil, fmt.Errorf("ssh-agent (SSH_AUTH_SOCK): list keys: %w", err)
	}
	owner := map[string]string{}
	for _, a := range approvers {
		for _, k := range a.Keys {
			owner[k.Fingerprint] = a.Name
		}
	}
	byName := map[string]ssh.Signer{}
	for _, sg := range signers {
		if name, ok := owner[ssh.FingerprintSHA256(sg.PublicKey())]; ok {
			if _, seen := byName[name]; !seen {
				byName[name] = sg
			}
		}
	}
	switch {
	case len(byName) == 0:
		return nil, nil, &refusedError{msg: "ssh-agent (SSH_AUTH_SOCK) holds no registered approver's key (see ass approvers list): sign with --key FILE or --signature FILE"}
	case len(byName) == 1:
		for _, sg := range byName {
			return sg, conn, nil
		}
	}
	if actor, _ := agentvault.ActorFromContext(c.ctx); byName[actor] != nil {
		return byName[actor], conn, nil
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, nil, usagef("ssh-agent holds the keys of approvers %s: choose one with --actor NAME", strings.Join(names, ", "))
}

// showApproval prints one request and who decided it, with fingerprints.
func (c *cli) showApproval(s *session, id string) error {
	a, err := s.vault.GetApproval(c.ctx, id)
	if err != nil {
		return err
	}
	if c.g.json {
		return writeJSON(c.stdout, a)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "approval %s: %s, %s tier, requested by %s, %d of %d approvals, expires %s\n",
		a.ID, a.State, a.Tier, actorString(a.RequestedBy), len(a.Votes), a.Required, formatTime(a.ExpiresAt))
	fmt.Fprintf(&b, "scopes: %s\n", strings.Join(a.Scopes, " "))
	if _, err := io.WriteString(c.stdout, b.String()); err != nil {
		return err
	}
	rows := [][]string{}
	for _, v := range a.Votes {
		rows = append(rows, voteRow("approved", v))
	}
	if a.DecidedBy != nil {
		v := agentvault.Vote{Approver: *a.DecidedBy}
		if a.Decision != nil {
			v = *a.Decision
		}
		rows = append(rows, voteRow(string(a.State), v))
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(c.stdout, "no decisions yet")
		return err
	}
	return writeTable(c.stdout, []string{"DECISION", "BY", "FINGERPRINT", "TRUST", "AT"}, rows)
}

func voteRow(decision string, v agentvault.Vote) []string {
	fp, trust, at := v.Fingerprint, v.Trust, "-"
	if fp == "" {
		fp = "-"
	}
	if trust == "" {
		trust = "caller-named"
	}
	if !v.At.IsZero() {
		at = formatTime(v.At)
	}
	return []string{decision, actorString(v.Approver), fp, trust, at}
}
