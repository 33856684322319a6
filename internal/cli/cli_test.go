package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func testCmd(t *testing.T, config string, args ...string) (*cobra.Command, *[]string, *string, error) {
	t.Helper()
	var g Globals
	var dir string
	var hubs []string
	root := &cobra.Command{Use: "vrs-test", SilenceUsage: true, SilenceErrors: true}
	g.AddFlags(root)
	serve := &cobra.Command{Use: "serve", RunE: func(*cobra.Command, []string) error { return nil }}
	serve.Flags().StringVar(&dir, "data-dir", "", "")
	serve.Flags().StringSliceVar(&hubs, "peer", nil, "")
	MarkRequired(serve, "data-dir")
	root.AddCommand(serve)
	p := filepath.Join(t.TempDir(), "c.hcl")
	if err := os.WriteFile(p, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	root.SetArgs(append([]string{"serve", "--config", p}, args...))
	err := root.Execute()
	return root, &hubs, &dir, err
}

func TestConfigSetsFlags(t *testing.T) {
	_, peers, dir, err := testCmd(t, "data_dir = \"/var/lib/vrs\"\npeer = [\"a\", \"b\"]\n")
	if err != nil {
		t.Fatal(err)
	}
	if *dir != "/var/lib/vrs" || strings.Join(*peers, ",") != "a,b" {
		t.Fatalf("dir=%q peers=%v", *dir, *peers)
	}
}

func TestCommandLineWins(t *testing.T) {
	_, _, dir, err := testCmd(t, "data_dir = \"/from/config\"\n", "--data-dir", "/from/flag")
	if err != nil || *dir != "/from/flag" {
		t.Fatalf("dir=%q err=%v", *dir, err)
	}
}

func TestConfigErrorsNameTheLine(t *testing.T) {
	_, _, _, err := testCmd(t, "data_dir = \"x\"\ndata_dri = \"y\"\n")
	if err == nil || !strings.Contains(err.Error(), "c.hcl:2:1") || !strings.Contains(err.Error(), "data_dri") {
		t.Fatalf("want error naming c.hcl:2:1 and data_dri, got %v", err)
	}
}

func TestRequiredFlag(t *testing.T) {
	_, _, _, err := testCmd(t, "")
	if err == nil || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("want missing --data-dir, got %v", err)
	}
}
