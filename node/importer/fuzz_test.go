package importer

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadJSONL and FuzzReadCSV feed arbitrary bytes to the readers: they
// must never panic, and every problem must have a line.
func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte(`{"nationalRef":"a","detectedOn":"2026-01-01"}` + "\n\n" + `{"nationalRef":"a"}`))
	f.Add([]byte("{\n}\r\n{\"migrants\":[{\"age\":-1}]}"))
	f.Add([]byte(`{"national_ref":"x","detected_on":"2026-02-30","transport_mode":9}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f.jsonl")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		file, err := Read(t.Context(), p, Options{Now: testNow})
		if err != nil {
			return
		}
		for _, pr := range file.Problems {
			if pr.Pos.Line < 1 || pr.Rule == "" {
				t.Fatalf("problem without a line or rule: %#v", pr)
			}
		}
	})
}

func FuzzReadCSV(f *testing.F) {
	f.Add([]byte(csvIncidents), []byte(csvPersons))
	f.Add([]byte("national_ref;detected_on\n\"a\";2026-01-01\n"), []byte("national_ref,group,age\na,suspect,1.5\n"))
	f.Add([]byte("\ufeffNATIONAL_REF,Fee_Amount\nx,NaN\n"), []byte(""))
	f.Fuzz(func(t *testing.T, incidents, persons []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "f.csv")
		if err := os.WriteFile(p, incidents, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f.persons.csv"), persons, 0o600); err != nil {
			t.Fatal(err)
		}
		file, err := Read(t.Context(), p, Options{Now: testNow})
		if err != nil {
			return
		}
		for _, pr := range file.Problems {
			if pr.Rule == "" {
				t.Fatalf("problem without a rule: %#v", pr)
			}
		}
	})
}
