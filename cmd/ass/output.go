package main

import (
	"encoding/json"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/agentvault/agentvault"
)

// secretJSON is a secret's metadata, and its value for get, in the field
// names and order of the hosted product's REST API. tags is {} and
// expires_at null when there are none; expired says whether expires_at has
// passed; status is set by set and create: "created" or "updated".
type secretJSON struct {
	Status      string            `json:"status,omitempty"`
	Path        string            `json:"path"`
	Value       *string           `json:"value,omitempty"`
	Version     string            `json:"version"`
	Type        string            `json:"type"`
	Tier        string            `json:"tier"`
	Tags        map[string]string `json:"tags"`
	Description string            `json:"description"`
	CreatedBy   string            `json:"created_by"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	ExpiresAt   *time.Time        `json:"expires_at"`
	Expired     bool              `json:"expired"`
}

func toSecretJSON(m *agentvault.SecretMetadata, value *string) secretJSON {
	out := secretJSON{
		Path: m.Path, Value: value, Version: m.Version, Type: string(m.Type), Tier: string(m.Tier),
		Tags: m.Tags, Description: m.Description, CreatedBy: m.CreatedBy,
		CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(),
	}
	if out.Tags == nil {
		out.Tags = map[string]string{}
	}
	if !m.ExpiresAt.IsZero() {
		t := m.ExpiresAt.UTC()
		out.ExpiresAt = &t
		out.Expired = !time.Now().Before(t)
	}
	return out
}

// versionJSON is one entry of "ass versions --json". created_at is null
// for a pruned version, grace_ends_at unless is_previous.
type versionJSON struct {
	Version     string     `json:"version"`
	CreatedAt   *time.Time `json:"created_at"`
	CreatedBy   string     `json:"created_by"`
	IsActive    bool       `json:"is_active"`
	IsPrevious  bool       `json:"is_previous"`
	GraceEndsAt *time.Time `json:"grace_ends_at"`
	Pruned      bool       `json:"pruned"`
}

func toVersionJSON(v *agentvault.VersionInfo) versionJSON {
	return versionJSON{
		Version: v.Version, CreatedAt: utcOrNil(v.CreatedAt), CreatedBy: v.CreatedBy,
		IsActive: v.IsActive, IsPrevious: v.IsPrevious, GraceEndsAt: utcOrNil(v.GraceEndsAt), Pruned: v.Pruned,
	}
}

// utcOrNil is t in UTC, or nil (JSON null) when t is zero.
func utcOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// writeJSON writes v as indented JSON and a newline, without HTML escaping.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// maxCell is the widest a table cell may be, in characters, but in the last
// column: a longer one is cut in the middle with "…" (--json has it whole).
const maxCell = 60

// writeTable writes aligned columns under a header. Cells but the last
// column's are capped at maxCell, so one long path does not pad every row.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range append([][]string{header}, rows...) {
		for i, cell := range row {
			if i > 0 {
				if _, err := io.WriteString(tw, "\t"); err != nil {
					return err
				}
			}
			cell = cleanCell(cell)
			if i < len(row)-1 {
				cell = capCell(cell, maxCell)
			}
			if _, err := io.WriteString(tw, cell); err != nil {
				return err
			}
		}
		if _, err := io.WriteString(tw, "\n"); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// cleanCell keeps a table cell on one line and in its column: control
// characters (tabs, newlines, escapes in an actor name) become '?'.
func cleanCell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

// capCell shortens s to n characters by cutting its middle, keeping the
// start and the end (a path's namespace and its name): "production/ope…/api-key".
func capCell(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	head := (n - 1) / 2
	tail := n - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// formatTime formats t for tables: RFC 3339 in UTC, to the second.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// formatExpiry formats an expiry for tables, marking one that has passed.
func formatExpiry(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	s := formatTime(t)
	if !now.Before(t) {
		s += " (expired)"
	}
	return s
}
