package localkms

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentvault/agentvault/kms"
)

// MaxKeyFileSize is the largest key file, in bytes, LoadFile, FromEnv and
// Parse accept.
const MaxKeyFileSize = 64 << 10

// keyFileHeader starts every key file MarshalKeyFile writes.
const keyFileHeader = "# agentvault local key file: keep secret, mode 0600\n"

// ErrInsecurePermissions is returned by LoadFile and RotateKeyFile when the
// key file's group or other permission bits are set (mode & 0o077 != 0), and
// on Unix when the key file is not owned by the current user or is a
// symbolic link owned by someone other than the current user or root
// (whoever could plant such a link could swap in a key they know). The
// error names the file and the chmod or chown command that fixes it.
var ErrInsecurePermissions = errors.New("localkms: key file is accessible by group or others")

// ParseError is returned when a key file, or the value of an environment
// variable read by FromEnv, is not in the key file format. It never contains
// key material. It wraps Err and kms.ErrInvalidInput.
//
// A ParseError is not modified after it is returned, so it may be shared
// between goroutines. The zero value describes an unspecified problem with an
// unnamed input.
type ParseError struct {
	// Source names the input: "key file PATH", "environment variable NAME",
	// or "key file" for Parse.
	Source string
	// Line is the 1-based line at fault, or 0 when the error concerns the
	// whole input (no primary line, too large, ...).
	Line int
	// Err is the reason.
	Err error
}

// Error returns, for example,
// "localkms: key file /etc/av/key, line 3: key "k1" is 16 bytes, want 32".
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("localkms: ")
	if e.Source != "" {
		b.WriteString(e.Source)
	} else {
		b.WriteString("key file")
	}
	if e.Line > 0 {
		b.WriteString(", line ")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("invalid key file")
	}
	return b.String()
}

// Unwrap returns Err (if set) and kms.ErrInvalidInput.
func (e *ParseError) Unwrap() []error {
	if e.Err == nil {
		return []error{kms.ErrInvalidInput}
	}
	return []error{e.Err, kms.ErrInvalidInput}
}

// Parse reads a Keyring from the contents of a key file, in any of the forms
// the package doc describes. Errors are *ParseError.
func Parse(data []byte) (*Keyring, error) {
	return parse(data, "key file")
}

// LoadFile reads a Keyring from the key file at path (see the package doc for
// the format). On Unix it refuses, with ErrInsecurePermissions, a file whose
// mode grants group or others any access; run chmod 600 on it. It reads at
// most MaxKeyFileSize bytes. Errors: ErrInsecurePermissions, *ParseError, or
// a file system error (wrapping kms.ErrKeyNotFound if the file does not
// exist).
func LoadFile(path string) (*Keyring, error) {
	data, err := readKeyFile(path, true)
	if err != nil {
		return nil, err
	}
	return parse(data, "key file "+path)
}

// LoadFileInsecure is LoadFile without the permission check, for tests and
// for files whose access is controlled by other means (a container secret
// mount that shows as 0644, for example). Prefer LoadFile.
func LoadFileInsecure(path string) (*Keyring, error) {
	data, err := readKeyFile(path, false)
	if err != nil {
		return nil, err
	}
	return parse(data, "key file "+path)
}

// FromEnv reads a Keyring from the environment variable name, which holds the
// standard base64 of one 32-byte key or the full key file format. An unset or
// blank variable is an error wrapping kms.ErrKeyNotFound; other errors are
// *ParseError. FromEnv does not modify the environment.
func FromEnv(name string) (*Keyring, error) {
	v, ok := os.LookupEnv(name)
	if !ok || strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("localkms: environment variable %s is not set: %w", name, kms.ErrKeyNotFound)
	}
	return parse([]byte(v), "environment variable "+name)
}

// GenerateKeyFile creates a key file at path holding one new random key,
// which is primary, and returns its id. The file is created with mode 0600,
// never over an existing file (the error then wraps fs.ErrExist), and is
// synced with its directory before GenerateKeyFile returns. The directory
// must exist.
func GenerateKeyFile(path string) (id string, err error) {
	k := &Keyring{}
	if id, err = addGeneratedKey(k); err != nil {
		return "", err
	}
	if err := k.SetPrimary(id); err != nil {
		return "", err
	}
	data, err := k.MarshalKeyFile()
	if err != nil {
		return "", err
	}
	if err := writeNewFile(path, data); err != nil {
		return "", fmt.Errorf("localkms: generate key file: %w", err)
	}
	return id, nil
}

// RotateKeyFile adds a new random key to the key file at path, makes it
// primary, keeps every earlier key (they keep decrypting) and returns the new
// id. The file is replaced atomically (a synced temporary file renamed over
// it, then the directory synced), with mode 0600; a symbolic link is followed
// and the file it points to replaced, unless the link is owned by someone
// other than the current user or root (ErrInsecurePermissions). Comments in
// the file are not kept.
// Concurrent rotations of one file serialize on an advisory lock on
// path + ".lock" (on Unix). The file must pass LoadFile's permission check.
func RotateKeyFile(path string) (newID string, err error) {
	if err := checkKeyLink(path); err != nil {
		return "", err
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fileError(err)
	}
	unlock, err := lockFile(target + ".lock")
	if err != nil {
		return "", fmt.Errorf("localkms: rotate key file: %w", err)
	}
	defer unlock()

	data, err := readKeyFile(target, true)
	if err != nil {
		return "", err
	}
	k, err := parse(data, "key file "+target)
	if err != nil {
		return "", err
	}
	if newID, err = addGeneratedKey(k); err != nil {
		return "", err
	}
	if err := k.SetPrimary(newID); err != nil {
		return "", err
	}
	out, err := k.MarshalKeyFile()
	if err != nil {
		return "", err
	}
	if err := replaceFile(target, out); err != nil {
		return "", fmt.Errorf("localkms: rotate key file: %w", err)
	}
	return newID, nil
}

// MarshalKeyFile returns the Keyring in the key file format: a comment line,
// the primary line, and one key line per key in the order they were added.
// The result holds every key: write it only to a file of mode 0600. It
// returns an error wrapping kms.ErrKeyNotFound if there is no primary key.
func (k *Keyring) MarshalKeyFile() ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.primary == "" {
		return nil, fmt.Errorf("localkms: marshal key file: no primary key: %w", kms.ErrKeyNotFound)
	}
	var b bytes.Buffer
	b.WriteString(keyFileHeader)
	b.WriteString("primary " + k.primary + "\n")
	for _, id := range k.order {
		b.WriteString("key " + id + " " + base64.StdEncoding.EncodeToString(k.keys[id].raw) + "\n")
	}
	return b.Bytes(), nil
}

// addGeneratedKey adds a new random key to k, with an id of the form
// k-YYYYMMDD-xxxxxxxx (UTC date, 8 random hex digits), and returns the id.
// crypto/rand.Read does not fail (it crashes the program if the system's
// random source does), so neither does this but for AddKey.
func addGeneratedKey(k *Keyring) (string, error) {
	raw := make([]byte, KeySize)
	_, _ = rand.Read(raw)
	for {
		var suffix [4]byte
		_, _ = rand.Read(suffix[:])
		id := "k-" + time.Now().UTC().Format("20060102") + "-" + hex.EncodeToString(suffix[:])
		if k.has(id) {
			continue // 1 in 2^32 per key already added today
		}
		return id, k.AddKey(id, raw)
	}
}

// singleKeyID is the id of a key given without one: "local-" and the first 8
// hex digits of its SHA-256.
func singleKeyID(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "local-" + hex.EncodeToString(sum[:4])
}

func parse(data []byte, source string) (*Keyring, error) {
	perr := func(line int, format string, args ...any) error {
		return &ParseError{Source: source, Line: line, Err: fmt.Errorf(format, args...)}
	}
	if len(data) > MaxKeyFileSize {
		return nil, perr(0, "larger than %d bytes", MaxKeyFileSize)
	}
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return nil, perr(0, "empty")
	case isBase64Text(trimmed):
		return parseSingle(trimmed, perr)
	case len(data) == KeySize && !isText(data):
		return singleKeyring(data)
	}
	return parseLines(data, perr)
}

// parseSingle reads the single-key form: the base64 of one key.
func parseSingle(b64 []byte, perr func(int, string, ...any) error) (*Keyring, error) {
	raw, err := base64.StdEncoding.Strict().DecodeString(string(b64))
	if err != nil {
		return nil, perr(1, "single-key form: invalid standard base64")
	}
	if len(raw) != KeySize {
		return nil, perr(1, "single-key form: key is %d bytes, want %d", len(raw), KeySize)
	}
	return singleKeyring(raw)
}

func singleKeyring(raw []byte) (*Keyring, error) {
	return New(singleKeyID(raw), raw)
}

// parseLines reads the key file format proper.
func parseLines(data []byte, perr func(int, string, ...any) error) (*Keyring, error) {
	k := &Keyring{}
	keyLine := map[string]int{}
	primary, primaryLine := "", 0
	for i, line := range bytes.Split(data, []byte("\n")) {
		n := i + 1
		line = bytes.TrimSuffix(line, []byte("\r"))
		if !utf8.Valid(line) {
			return nil, perr(n, "not valid UTF-8")
		}
		s := strings.TrimSpace(string(line))
		if s == "" || s[0] == '#' {
			continue
		}
		// Only ids that passed validID are ever echoed: any other token could
		// be key material in the wrong place.
		f := strings.Fields(s)
		switch f[0] {
		case "primary":
			if len(f) != 2 {
				return nil, perr(n, `want "primary <key id>"`)
			}
			if !validID(f[1]) {
				return nil, perr(n, "invalid key id: want 1 to %d characters from A-Z a-z 0-9 . _ -", MaxKeyIDLen)
			}
			if primaryLine != 0 {
				return nil, perr(n, `second "primary" line (the first is line %d)`, primaryLine)
			}
			primary, primaryLine = f[1], n
		case "key":
			if len(f) != 3 {
				return nil, perr(n, `want "key <key id> <standard base64 of %d bytes>"`, KeySize)
			}
			id := f[1]
			if !validID(id) {
				return nil, perr(n, "invalid key id: want 1 to %d characters from A-Z a-z 0-9 . _ -", MaxKeyIDLen)
			}
			if first, dup := keyLine[id]; dup {
				return nil, perr(n, "duplicate key id %q (first on line %d)", id, first)
			}
			raw, err := base64.StdEncoding.Strict().DecodeString(f[2])
			if err != nil {
				return nil, perr(n, "key %q: invalid standard base64", id)
			}
			if len(raw) != KeySize {
				return nil, perr(n, "key %q is %d bytes, want %d", id, len(raw), KeySize)
			}
			if err := k.AddKey(id, raw); err != nil {
				return nil, perr(n, "key %q: cannot use key", id)
			}
			keyLine[id] = n
		default:
			return nil, perr(n, `want a "primary" or "key" line, a comment (#) or a blank line`)
		}
	}
	switch {
	case len(keyLine) == 0:
		return nil, perr(0, `no "key" line`)
	case primaryLine == 0:
		return nil, perr(0, `no "primary" line`)
	}
	if err := k.SetPrimary(primary); err != nil {
		return nil, perr(primaryLine, "primary key %q has no \"key\" line", primary)
	}
	return k, nil
}

// isBase64Text reports whether b consists only of standard base64 characters.
func isBase64Text(b []byte) bool {
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '+', c == '/', c == '=':
		default:
			return false
		}
	}
	return true
}

// isText reports whether b is printable ASCII and white space only. A random
// 32-byte key is text with probability about 2^-60.
func isText(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 || c > 0x7e) && c != '\n' && c != '\r' && c != '\t' {
			return false
		}
	}
	return true
}

// readKeyFile reads at most MaxKeyFileSize bytes of the regular file at path,
// checking its permissions if checkPerm.
func readKeyFile(path string, checkPerm bool) ([]byte, error) {
	if checkPerm {
		if err := checkKeyLink(path); err != nil {
			return nil, err
		}
	}
	// Stat before opening, so that a FIFO or device is refused rather than
	// blocking or reading forever.
	st, err := os.Stat(path)
	if err != nil {
		return nil, fileError(err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("localkms: key file %s is not a regular file: %w", path, kms.ErrInvalidInput)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError(err)
	}
	defer f.Close()
	fst, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("localkms: %w", err)
	}
	if !os.SameFile(st, fst) {
		return nil, fmt.Errorf("localkms: key file %s changed while being opened", path)
	}
	if perm := fst.Mode().Perm(); checkPerm && runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("localkms: key file %s has mode %04o: group and others must have no access; fix it with: chmod 600 %s: %w",
			path, perm, shellQuote(path), ErrInsecurePermissions)
	}
	if uid, ok := fileOwner(fst); checkPerm && ok && uid != os.Geteuid() {
		return nil, fmt.Errorf("localkms: key file %s is owned by uid %d, not by the current user (uid %d); fix it with: chown %d %s: %w",
			path, uid, os.Geteuid(), os.Geteuid(), shellQuote(path), ErrInsecurePermissions)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("localkms: read key file: %w", err)
	}
	if len(data) > MaxKeyFileSize {
		return nil, &ParseError{Source: "key file " + path, Err: fmt.Errorf("larger than %d bytes", MaxKeyFileSize)}
	}
	return data, nil
}

// checkKeyLink refuses a key file path that is a symbolic link owned by
// someone other than the current user or root.
func checkKeyLink(path string) error {
	lst, err := os.Lstat(path)
	if err != nil || lst.Mode()&fs.ModeSymlink == 0 {
		return nil // reported by the Stat that follows
	}
	uid, ok := fileOwner(lst)
	if !ok || uid == os.Geteuid() || uid == 0 {
		return nil
	}
	return fmt.Errorf("localkms: key file %s is a symbolic link owned by uid %d, not by the current user (uid %d) or root; use the file it points to, or replace the link: %w",
		path, uid, os.Geteuid(), ErrInsecurePermissions)
}

func fileError(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("localkms: %w: %w", err, kms.ErrKeyNotFound)
	}
	return fmt.Errorf("localkms: %w", err)
}

// shellQuote quotes path for a POSIX shell if it needs quoting.
func shellQuote(path string) string {
	if path != "" && strings.Trim(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:@%,") == "" {
		return path
	}
	return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
}

// writeNewFile creates path (which must not exist) with mode 0600, writes
// data and syncs the file and its directory. On failure it removes the file.
func writeNewFile(path string, data []byte) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(path)
		}
	}()
	if err := writeSyncClose(f, data); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// replaceFile atomically replaces path with a file of mode 0600 holding data:
// a temporary file in the same directory, synced, renamed over path, then
// the directory synced.
func replaceFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := writeSyncClose(f, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// writeSyncClose sets f's mode to 0600 (whatever the umask), writes data,
// syncs and closes f.
func writeSyncClose(f *os.File, data []byte) error {
	if runtime.GOOS != "windows" {
		if err := f.Chmod(0o600); err != nil {
			return err
		}
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// syncDir syncs a directory, so that a file created or renamed in it is
// durable. Windows cannot sync directories; there it does nothing.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}
