package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNewJSONWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Name: "vrs-test", Output: &buf})
	if err != nil {
		t.Fatal(err)
	}
	l.Named("federation").Info("node attached", "country", "THA")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not JSON: %q: %v", buf.String(), err)
	}
	if line["@module"] != "vrs-test.federation" || line["country"] != "THA" {
		t.Fatalf("unexpected line: %v", line)
	}
}

func TestNewText(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Name: "vrs-test", Format: FormatText, Level: "debug", Output: &buf})
	if err != nil {
		t.Fatal(err)
	}
	l.Debug("hello", "k", "v")
	if !strings.Contains(buf.String(), "[DEBUG] vrs-test: hello: k=v") {
		t.Fatalf("unexpected text line: %q", buf.String())
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{{Level: "loud"}, {Format: "xml"}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v): want error", o)
		}
	}
}

func TestAdaptersRouteLevels(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Format: FormatText, Level: "debug", Output: &buf})
	if err != nil {
		t.Fatal(err)
	}
	Badger{L: l}.Warningf("value log %d\n", 3)
	GRPC{L: l}.Infof("transport: %s", "closing")
	GRPC{L: l}.Errorln("boom")
	out := buf.String()
	for _, want := range []string{"[WARN]  value log 3", "[DEBUG] transport: closing", "[ERROR] boom"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in %q", want, out)
		}
	}
}
