package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
)

// ghzCall is one method measured with ghz.
type ghzCall struct {
	name, method, data, addr string
}

// ghzReport is the part of ghz's JSON report the table uses.
type ghzReport struct {
	RPS                 float64 `json:"rps"`
	Count               int64   `json:"count"`
	LatencyDistribution []struct {
		Percentage int   `json:"percentage"`
		Latency    int64 `json:"latency"` // nanoseconds
	} `json:"latencyDistribution"`
	StatusCodeDistribution map[string]int64 `json:"statusCodeDistribution"`
}

// writeProtoset writes the descriptors ghz needs (the hub's services and
// grpc's health check) as a FileDescriptorSet, since the baseline server
// has no reflection.
func writeProtoset(path string) error {
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := range imports.Len() {
			add(imports.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	add(hubv1.File_vrs_hub_v1_hub_proto)
	add(grpc_health_v1.File_grpc_health_v1_health_proto)
	b, err := proto.Marshal(set)
	if err != nil {
		return fmt.Errorf("protoset: %w", err)
	}
	return os.WriteFile(path, b, 0o600)
}

// runGHZ runs ghz against c with the operator's certificate and returns
// its report.
func runGHZ(ctx context.Context, bin, pki, protoset string, workers int, d time.Duration, c ghzCall) (ghzReport, error) {
	args := []string{
		"--protoset", protoset, "--call", c.method, "--data", c.data,
		"--cacert", filepath.Join(pki, "ca.pem"),
		"--cert", filepath.Join(pki, "operator-bench.pem"), "--key", filepath.Join(pki, "operator-bench-key.pem"),
		"--cname", "127.0.0.1",
		"--concurrency", strconv.Itoa(workers), "--connections", "1",
		"--duration", d.String(), "--duration-stop", "ignore", "--format", "json", c.addr,
	}
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ghzReport{}, fmt.Errorf("ghz %s: %w: %s", c.method, err, ee.Stderr)
		}
		return ghzReport{}, fmt.Errorf("ghz %s: %w", c.method, err)
	}
	var r ghzReport
	if err := json.Unmarshal(out, &r); err != nil {
		return ghzReport{}, fmt.Errorf("ghz %s report: %w", c.method, err)
	}
	return r, nil
}

// latency returns percentile p of r as a duration (0 if absent).
func (r ghzReport) latency(p int) time.Duration {
	for _, l := range r.LatencyDistribution {
		if l.Percentage == p {
			return time.Duration(l.Latency)
		}
	}
	return 0
}

// errors counts the calls that did not end OK.
func (r ghzReport) errors() int64 {
	var n int64
	for code, c := range r.StatusCodeDistribution {
		if code != "OK" {
			n += c
		}
	}
	return n
}

// ghzVersion returns ghz's module version from its build information
// (`go version -m`; a `go install`ed ghz says "dev" to --version).
func ghzVersion(bin string) string {
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err == nil {
		for line := range strings.Lines(string(out)) {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "mod" && f[1] == "github.com/bojand/ghz" {
				return f[2]
			}
		}
	}
	return "(version unknown)"
}
