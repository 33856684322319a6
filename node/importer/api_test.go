package importer

import "testing"

func TestSplitFieldPath(t *testing.T) {
	tests := []struct {
		field string
		index int
		path  string
	}{
		{"incidents[3].migrants[0].age", 3, "migrants[0].age"},
		{"incidents[12]", 12, ""},
		{"incidents[0].national_ref", 0, "national_ref"},
		{"national_ref", -1, "national_ref"},
		{"incidents[x].age", -1, "incidents[x].age"},
		{"incidents[-1].age", -1, "incidents[-1].age"},
		{"incidents[4", -1, "incidents[4"},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			i, p := splitFieldPath(tt.field)
			if i != tt.index || p != tt.path {
				t.Fatalf("got %d %q, want %d %q", i, p, tt.index, tt.path)
			}
		})
	}
}
