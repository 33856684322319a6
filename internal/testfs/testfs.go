// Package testfs gives tests a small filesystem of their own, so that they
// can fill a disk for real: a tmpfs mounted under a temporary directory,
// where the machine allows it (Linux, root), and skipped elsewhere.
package testfs

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// Small mounts a tmpfs of sizeMB under a temporary directory, unmounts it
// when the test ends, and returns the directory. It skips the test where
// mounting is not possible.
func Small(t testing.TB, sizeMB int) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("a small filesystem is mounted on Linux only")
	}
	if os.Geteuid() != 0 {
		t.Skip("mounting a small filesystem needs root")
	}
	dir := t.TempDir()
	mount := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", sizeMB), "tmpfs", dir) //nolint:gosec // a test's own temporary directory and size
	if out, err := mount.CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Grow resizes the filesystem Small mounted at dir to sizeMB, as an
// operator freeing or adding space would.
func Grow(t testing.TB, dir string, sizeMB int) {
	t.Helper()
	remount := exec.Command("mount", "-o", fmt.Sprintf("remount,size=%dm", sizeMB), dir) //nolint:gosec // the directory Small mounted
	if out, err := remount.CombinedOutput(); err != nil {
		t.Fatalf("grow the filesystem at %s: %v: %s", dir, err, out)
	}
}
