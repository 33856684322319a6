// Package layering holds the test that enforces the dependency rule of
// ARCHITECTURE.md: hub and node never import each other, and production
// packages under internal/ import neither.
package layering

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/vrs-federation/vrs"

type pkg struct {
	ImportPath string
	Imports    []string
	// TestImports and XTestImports are left out on purpose: end-to-end
	// tests may import both sides.
}

func TestLayering(t *testing.T) {
	cmd := exec.Command("go", "list", "-json", module+"/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(out)
	var checked int
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		checked++
		side := sideOf(p.ImportPath)
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			if forbidden(side, sideOf(imp)) {
				t.Errorf("%s (%s) imports %s (%s)", p.ImportPath, side, imp, sideOf(imp))
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if checked < 5 {
		t.Fatalf("only %d packages listed", checked)
	}
}

func sideOf(path string) string {
	rest := strings.TrimPrefix(path, module+"/")
	switch {
	case rest == "hub" || strings.HasPrefix(rest, "hub/"):
		return "hub"
	case rest == "node" || strings.HasPrefix(rest, "node/"):
		return "node"
	case strings.HasPrefix(rest, "internal/e2e"):
		return "e2e"
	case strings.HasPrefix(rest, "internal/"):
		return "internal"
	case strings.HasPrefix(rest, "proto/"):
		return "proto"
	}
	return "other"
}

func forbidden(from, to string) bool {
	switch from {
	case "hub":
		return to == "node" || to == "e2e"
	case "node":
		return to == "hub" || to == "e2e"
	case "internal", "proto":
		return to == "hub" || to == "node" || to == "e2e"
	}
	return false
}

func TestForbiddenTable(t *testing.T) {
	for _, c := range []struct {
		from, to string
		bad      bool
	}{
		{"hub", "node", true}, {"node", "hub", true}, {"internal", "hub", true},
		{"internal", "node", true}, {"hub", "internal", false}, {"e2e", "hub", false},
		{"proto", "node", true}, {"node", "proto", false},
	} {
		if got := forbidden(c.from, c.to); got != c.bad {
			t.Errorf("forbidden(%s, %s) = %v", c.from, c.to, got)
		}
	}
}
