package main

import (
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestRelFaults"}`,
		`{"Action":"run","Package":"p","Test":"TestRelFaults/node_partitioned"}`,
		`{"Action":"pass","Package":"p","Test":"TestRelFaults/node_partitioned","Elapsed":5.2}`,
		`{"Action":"run","Package":"p","Test":"TestRelFaults/slow_link"}`,
		`{"Action":"output","Package":"p","Test":"TestRelFaults/slow_link","Output":"    faults_test.go:12: THA never answered\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestRelFaults/slow_link","Elapsed":1}`,
		`{"Action":"run","Package":"p","Test":"TestRelAttacks/differencing"}`,
		`{"Action":"output","Package":"p","Test":"TestRelAttacks/differencing","Output":"--- SKIP: TestRelAttacks/differencing (0.00s)\n"}`,
		`{"Action":"output","Package":"p","Test":"TestRelAttacks/differencing","Output":"    attack_test.go:575: KNOWN LIMITATION: a | b\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestRelAttacks/differencing"}`,
		`{"Action":"output","Package":"p","Test":"TestRelAttacks/margin","Output":"    attack_test.go:575: KNOWN LIMITATION: margin\n"}`,
		`{"Action":"output","Package":"p","Test":"TestRelAttacks/margin","Output":"--- SKIP: TestRelAttacks/margin (0.02s)\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestRelAttacks/margin"}`,
		`{"Action":"pass","Package":"p","Test":"TestOther"}`,
		`{"Action":"fail","Package":"p","Test":"TestRelFaults","Elapsed":6}`,
		`{"Action":"fail","Package":"p","Elapsed":7}`,
		`{"ImportPath":"bf","Action":"build-output","Output":"bf/x.go:3:2: undefined: y\n"}`,
	}, "\n")
	var out strings.Builder
	failed, err := summarize(strings.NewReader(in), &out, []string{"TestRel"})
	if err != nil {
		t.Fatal(err)
	}
	if !failed {
		t.Error("a failed test did not fail the summary")
	}
	got := out.String()
	for _, want := range []string{
		"| TestRelFaults/node partitioned | pass | 5.2s |",
		"bf/x.go:3:2: undefined: y",
		"| TestRelFaults/slow link | **FAIL** | 1s |",
		`| TestRelAttacks/differencing | skipped: KNOWN LIMITATION: a \| b | 0s |`,
		"| TestRelAttacks/margin | skipped: KNOWN LIMITATION: margin | 0s |",
		"--- FAIL: TestRelFaults/slow_link\n    faults_test.go:12: THA never answered",
		"FAIL p",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "TestOther") {
		t.Errorf("a test outside the prefixes is tabulated:\n%s", got)
	}

	out.Reset()
	failed, err = summarize(strings.NewReader(`{"Action":"pass","Package":"p","Test":"TestRelLoad","Elapsed":2}`+"\n"+`{"Action":"pass","Package":"p"}`), &out, []string{"TestRel"})
	if err != nil || failed {
		t.Errorf("all passing: failed=%v err=%v\n%s", failed, err, out.String())
	}
}
