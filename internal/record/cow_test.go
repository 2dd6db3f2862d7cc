package record

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

func cowHead(t testing.TB) *Secret {
	t.Helper()
	s := &Secret{Path: "a/b", Type: "custom", CreatedBy: "alice", CreatedAt: 1e18, UpdatedAt: 1e18,
		Active: 1, MaxVersion: 1, SecretID: [SecretIDLen]byte{7},
		Versions: []Version{attachedVersion(1, 1e18, "alice", 0)}}
	// Start from a parsed head, as the vault does.
	b := append(s.MarshalBody(), make([]byte, MACLen)...)
	p, _, _, err := ParseSecret(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func attachedVersion(n uint32, at int64, by string, tier uint8) Version {
	return Version{Number: n, CreatedAt: at, CreatedBy: by, Tier: tier, KeyID: "k",
		WrappedDEK: []byte(fmt.Sprint("dek", n)), Ciphertext: bytes.Repeat([]byte{byte(n)}, 16)}
}

// A chain of derived heads, each adding a version with a random creator,
// floor and time step, encodes to exactly the bytes a full encoding of
// the same table gives (runs patched at the tail stay maximal), parses
// back to the same table and holds the active envelope.
func TestDerivedEncodingMatchesFull(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		cur := cowHead(t)
		at := cur.CreatedAt
		for i := 0; i < 300; i++ {
			rec := cur.Derive()
			if rng.IntN(40) == 0 {
				rec.Own() // an in-place change in between (e.g. a lowered tier)
			}
			n := rec.MaxVersion + 1
			if rng.IntN(10) == 0 {
				n += uint32(rng.IntN(3)) // numbers skipped (pruned elsewhere)
			}
			at += rng.Int64N(1<<uint(rng.IntN(40))) - 1000 // occasionally backwards
			by := []string{"alice", "bob", "carol"}[min(rng.IntN(8), 2)]
			tier := uint8(min(rng.IntN(12), 2))
			added := rec.AppendVersion(attachedVersion(n, at, by, tier))
			if added.Detached() || added.Number != n {
				t.Fatalf("AppendVersion returned %+v", added)
			}
			rec.MaxVersion, rec.Active = n, n
			got := rec.MarshalBodyKeep()
			want := rec.Clone().MarshalBody()
			if !bytes.Equal(got, want) {
				t.Fatalf("seed %d step %d: derived encoding differs from the full one", seed, i)
			}
			p, _, _, err := ParseSecret(append(got, make([]byte, MACLen)...))
			if err != nil {
				t.Fatalf("seed %d step %d: %v", seed, i, err)
			}
			if len(p.Versions) != len(rec.Versions) || p.Find(n) == nil || string(p.Find(n).WrappedDEK) != string(added.WrappedDEK) {
				t.Fatalf("seed %d step %d: parsed head differs", seed, i)
			}
			for j := range p.Versions {
				a, b := p.Versions[j], rec.Versions[j]
				if a.Number != b.Number || a.CreatedAt != b.CreatedAt || a.CreatedBy != b.CreatedBy || a.Tier != b.Tier {
					t.Fatalf("seed %d step %d: entry %d: %+v vs %+v", seed, i, j, a, b)
				}
			}
			cur = rec
		}
	}
}

// Records derived from one head never see each other's versions, and the
// head they were derived from is unchanged: its table, its active
// envelope and its encoding.
func TestDeriveIsCopyOnWrite(t *testing.T) {
	base := cowHead(t).Derive()
	base.AppendVersion(attachedVersion(2, 2e18, "bob", 0))
	base.Active, base.MaxVersion = 2, 2
	enc := base.MarshalBodyKeep()

	a, b := base.Derive(), base.Derive()
	a.AppendVersion(attachedVersion(3, 3e18, "alice", 0))
	a.Active, a.MaxVersion = 3, 3
	b.AppendVersion(attachedVersion(3, 4e18, "carol", 1)) // lost the claim: copies
	b.Active, b.MaxVersion = 3, 3
	c := base.Derive()
	c.Description = "changed"
	c.Tags = []Tag{{Key: "k", Value: "v"}}

	if len(base.Versions) != 2 || base.Active != 2 || base.Find(2).Detached() || base.Description != "" || base.Tags != nil {
		t.Fatalf("base changed: %+v", base)
	}
	if got := base.MarshalBody(); !bytes.Equal(got, enc) {
		t.Fatal("base encodes differently after deriving from it")
	}
	if a.Versions[2].CreatedBy != "alice" || b.Versions[2].CreatedBy != "carol" || b.Versions[2].Tier != 1 {
		t.Fatalf("derived records share a slot: %+v / %+v", a.Versions[2], b.Versions[2])
	}
	if string(a.Find(3).WrappedDEK) != "dek3" || !a.Versions[1].Detached() || string(a.Find(2).WrappedDEK) != "" {
		t.Fatalf("a: active not held or displaced version still held: %+v %+v", a.Find(3), a.Find(2))
	}
	// A plain append on a published record's Versions reallocates.
	vs := append(base.Versions, Version{Number: 99})
	if &vs[0] == &base.Versions[0] {
		t.Fatal("Versions of a derived record has spare capacity")
	}
	if a.Versions[2].Number != 3 {
		t.Fatal("a plain append overwrote a claimed slot")
	}
	// Clone puts the held envelopes (the active and the displaced one)
	// back into their entries.
	cl := a.Clone()
	if cl.Derived() || string(cl.Versions[2].WrappedDEK) != "dek3" || string(cl.Versions[1].WrappedDEK) != "dek2" || !cl.Versions[0].Detached() {
		t.Fatalf("Clone: %+v", cl.Versions)
	}
	if !a.Derived() || a.OldestCreated() != 1e18 || cl.OldestCreated() != 1e18 {
		t.Fatal("Derived or OldestCreated wrong")
	}
	if h, d := a.Held(); h.Number != 3 || d.Number != 2 || string(d.WrappedDEK) != "dek2" {
		t.Fatalf("Held: %+v %+v", h, d)
	}

	// A second append leaves copy-on-write: both envelopes not yet in a
	// version record (the displaced v2 and the added v3) stay in entries.
	x := base.Derive()
	x.AppendVersion(attachedVersion(3, 3e18, "alice", 0))
	x.AppendVersion(attachedVersion(4, 4e18, "alice", 0))
	if x.Derived() || len(x.Versions) != 4 {
		t.Fatalf("second append: derived %v, %d versions", x.Derived(), len(x.Versions))
	}
	for n := uint32(2); n <= 4; n++ {
		if got := string(x.Find(n).WrappedDEK); got != fmt.Sprint("dek", n) {
			t.Fatalf("v%d after a second append holds %q", n, got)
		}
	}
	if len(base.Versions) != 2 || !bytes.Equal(base.MarshalBody(), enc) {
		t.Fatal("base changed")
	}
}

// Concurrent derivations from one head (writers racing in one process)
// while readers encode and search it: run with -race.
func TestDeriveConcurrent(t *testing.T) {
	base := cowHead(t).Derive()
	base.MarshalBodyKeep()
	want := base.MarshalBody()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if g%2 == 0 {
					if !bytes.Equal(base.MarshalBody(), want) || base.Find(1).Detached() {
						t.Error("base changed under a reader")
						return
					}
					continue
				}
				r := base.Derive()
				by := fmt.Sprint("w", g, i)
				r.AppendVersion(attachedVersion(2, 2e18, by, 0))
				r.Active, r.MaxVersion = 2, 2
				if r.Versions[1].CreatedBy != by || string(r.Find(2).WrappedDEK) != "dek2" {
					t.Errorf("writer %d sees another writer's version", g)
					return
				}
				r.MarshalBodyKeep()
			}
		}()
	}
	wg.Wait()
}
